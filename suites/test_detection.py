"""Detection suite: the object-detection half of the study, on two torchvision detectors trained
from scratch on digit scenes (``zoo/scenes.py``, ``zoo/detection.py``).

The metric is COCO box mAP@[.5:.95] (mAP@.5 reported beside it), with a paired bootstrap
interval over the 300 held-out scenes (``measure/detection.py``); ``max_accuracy_drop`` is in mAP
points here. Latency is one 64x64 scene through the whole detector (transform, backbone, head,
box decoding, NMS), reference and compressed interleaved.

Detectors are convolutional end to end and end in data-dependent post-processing, so several
methods do not apply; each such case runs the method and skips with the error it actually
raised. If a method starts to apply, the case runs and is gated like any other (and, without a
baseline, fails until one is recorded): a skip here is never silent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

FCOS, SSDLITE = "scenes-fcos", "scenes-ssdlite"
MODELS = [FCOS, SSDLITE]

pytestmark = [pytest.mark.detection, pytest.mark.slow]


@contextlib.contextmanager
def skip_on(kind: type[BaseException], what: str) -> Iterator[None]:
    """Skip with the measured reason when the case raises ``kind`` (what the method does not support)."""
    try:
        yield
    except kind as exc:
        pytest.skip(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="int8-dynamic")
def test_int8_dynamic(compress_check, model):
    # torch.ao has dynamic int8 kernels for Linear and recurrent layers only; a detector has
    # neither, so the method raises NotApplicable and the plugin skips with its message.
    compress_check(model=model)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="int8-static", min_size_reduction=3.0)
def test_int8_static(compress_check, model):
    # No fuse_model() on torchvision's detectors, so int8-static goes through torch.export, which
    # cannot capture the post-processing (score thresholds and NMS give data-dependent shapes):
    # NotApplicable, skipped with the export error.
    compress_check(model=model)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="fp16", min_size_reduction=1.9, max_accuracy_drop=0.005)
def test_fp16_storage(compress_check, model):
    # Stored as float16, upcast at load: every box moves by float16 rounding of the weights only.
    compress_check(model=model, method_args={"compute": "fp32"})


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="fp16", method_args={"compute": "fp16"})
def test_fp16_compute(compress_check, model):
    # Running the detector in float16 on the CPU reaches torchvision's NMS, which has no Half kernel.
    with skip_on(RuntimeError, "float16 compute"):
        compress_check(model=model)


def bitmap_reduction(sparsity: float) -> float:
    """Size reduction of fp32 weights under the sparse-bitmap encoding: 4 bytes vs (1-s)*4 + 1/8."""
    return 4 / (4 * (1 - sparsity) + 1 / 8)


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="prune-unstructured")
def test_prune_unstructured(compress_check, model, sparsity):
    # Global magnitude pruning without fine-tuning; only the baseline guards mAP here (where the
    # cliff lies is what the baseline records). Dense CPU kernels gain nothing from zeros.
    import pytest_compress as pc

    result = compress_check(
        model=model,
        method_args={"sparsity": sparsity},
        # 20% slack for what is not pruned (biases, BatchNorm, the FPN's and heads' small tensors).
        min_size_reduction=0.8 * bitmap_reduction(sparsity),
    )
    assert result.method_result(pc.SparsityResult).pruned_sparsity == pytest.approx(sparsity, abs=1e-3)


@pytest.mark.parametrize(("ratio", "finetune_epochs"), [(0.5, 0), (0.5, 1)])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="prune-structured", min_size_reduction=2.0)
def test_prune_structured(compress_check, model, ratio, finetune_epochs):
    # Channels physically removed everywhere except the class-score and box convs
    # (ModelSpec.output_layers); the fine-tune is the detector's own loss (ModelSpec.finetune).
    result = compress_check(model=model, method_args={"ratio": ratio, "finetune_epochs": finetune_epochs})
    assert result.size.compressed_params < result.size.reference_params


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="lowrank", method_args={"rank_fraction": 0.25})
def test_lowrank(compress_check, model):
    # The low-rank method factorises Linear layers only; a detector's weights are all convs.
    with skip_on(ValueError, "low-rank"):
        compress_check(model=model)
