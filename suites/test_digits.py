"""Digits suite: a small CNN and ResNet-18 trained on sklearn digits, three compression methods.

Thresholds are claims a reader can check (README "Digits suite"); measured values live in
baselines/, which gate regressions on top of these thresholds.
"""

import pytest

MODELS = ["digits-cnn", "digits-resnet18"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="int8-dynamic", max_accuracy_drop=0.01)
def test_int8_dynamic(compress_check, model):
    # Only Linear layers are quantized: on conv nets the saving is the classifier head alone.
    compress_check(model=model)


@pytest.mark.parametrize(
    "model",
    [
        # A tiny 8x8 CNN at batch 1 is dominated by quantize/dequantize overhead: no speed claim.
        "digits-cnn",
        pytest.param("digits-resnet18", marks=pytest.mark.compress(min_speedup=1.5)),
    ],
)
@pytest.mark.compress(method="int8-static", max_accuracy_drop=0.01, min_size_reduction=3.0)
def test_int8_static(compress_check, model):
    result = compress_check(model=model)
    assert result.details["calibration_examples"] == 256


def bitmap_reduction(sparsity: float) -> float:
    """Size reduction of fp32 weights under the sparse-bitmap encoding: 4 bytes vs (1-s)*4 + 1/8."""
    return 4 / (4 * (1 - sparsity) + 1 / 8)


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="prune-unstructured")
def test_prune_unstructured(compress_check, model, sparsity):
    # Without fine-tuning accuracy holds to ~50% sparsity, then falls off a cliff; beyond 50% only
    # the baseline guards accuracy (so the cliff cannot silently move), the size claim still holds.
    limits = {"max_accuracy_drop": 0.02} if sparsity <= 0.5 else {}
    result = compress_check(
        model=model,
        method_args={"sparsity": sparsity},
        # 10% slack for tensors that are not pruned (biases, BatchNorm) and the file header.
        min_size_reduction=0.9 * bitmap_reduction(sparsity),
        **limits,
    )
    assert result.details["weight_sparsity"] == pytest.approx(sparsity, abs=1e-3)
    assert result.size.compressed_nonzero < result.size.reference_nonzero
