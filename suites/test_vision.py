"""Vision suite: the classification half of the study, on four architectures trained on sklearn digits.

Every (model, method) pair is a test; a method that does not apply to a model is skipped with
the reason. Thresholds are claims a reader can check against the seed study (Saxena et al.,
2024) — int8 about 4x smaller, float16 about 2x smaller, pruning holds accuracy up to a
threshold — and against this CPU's known limits; measured values live in baselines/.
"""

import pytest

import pytest_compress as pc

CNN, RESNET, MOBILENET, VIT = "digits-cnn", "digits-resnet18", "digits-mobilenetv2", "digits-vit"
MODELS = [CNN, RESNET, MOBILENET, VIT]


@pytest.mark.parametrize(
    "model",
    [
        # Only Linear layers are quantized: on conv nets the saving is the classifier head alone.
        CNN,
        RESNET,
        MOBILENET,
        # In torchvision's ViT only the MLP Linears are quantizable: attention keeps its fused q/k/v
        # projection as a bare parameter and its output projection is NonDynamicallyQuantizableLinear.
        # At batch 1 with 17 tokens the int8 matmuls are too small to beat the quantize overhead.
        pytest.param(VIT, marks=pytest.mark.compress(min_size_reduction=1.4)),
    ],
)
@pytest.mark.compress(method="int8-dynamic", max_accuracy_drop=0.01)
def test_int8_dynamic(compress_check, model):
    compress_check(model=model)


@pytest.mark.parametrize("compute", ["fp32", "fp16"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="fp16", min_size_reduction=1.9, max_accuracy_drop=0.005)
def test_fp16(compress_check, model, compute):
    # compute=fp32: stored as float16, upcast at load (same speed as the reference);
    # compute=fp16: run in float16 — on this AVX2 CPU that is much *slower*; the table shows it.
    compress_check(model=model, method_args={"compute": compute})


@pytest.mark.parametrize(
    "model",
    [
        # A tiny 8x8 CNN at batch 1 is dominated by quantize/dequantize overhead: no speed claim.
        CNN,
        pytest.param(RESNET, marks=pytest.mark.compress(min_size_reduction=3.5, min_speedup=1.5)),
        pytest.param(MOBILENET, marks=pytest.mark.compress(min_speedup=1.2)),
        # No fuse_model(): PT2E + torch.compile. Only the MLP Linears and the patch projection
        # become int8 (attention stays float), so no 4x size claim. No speed claim either: the
        # compiled int8 ViT ran 1.37x on AVX-512 VNNI kernels but 1.01x [0.95, 1.09] under AVX2
        # kernels (make test-other-kernels); this machine's latency baseline guards its speed.
        pytest.param(VIT, marks=pytest.mark.compress(min_size_reduction=1.4)),
    ],
)
# Folded BatchNorm biases and per-channel scales cost a little: "about 4x" is held as >= 3x.
@pytest.mark.compress(method="int8-static", max_accuracy_drop=0.015, min_size_reduction=3.0)
def test_int8_static(compress_check, model):
    result = compress_check(model=model)
    assert result.method_result(pc.CalibrationResult).examples == 256


def bitmap_reduction(sparsity: float) -> float:
    """Size reduction of fp32 weights under the sparse-bitmap encoding: 4 bytes vs (1-s)*4 + 1/8."""
    return 4 / (4 * (1 - sparsity) + 1 / 8)


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="prune-unstructured")
def test_prune_unstructured(compress_check, model, sparsity):
    # Without fine-tuning, accuracy holds to ~50% sparsity and then falls off a cliff; beyond 50%
    # only the baseline guards accuracy (so the cliff cannot silently move). MobileNetV2 has no
    # such plateau: its depthwise filters have the smallest weights, so *global* magnitude pruning
    # empties them first. Dense CPU kernels gain nothing from zeros: no speed claim.
    limits = {"max_accuracy_drop": 0.02} if sparsity <= 0.5 and model != MOBILENET else {}
    result = compress_check(
        model=model,
        method_args={"sparsity": sparsity},
        # 20% slack for what is not pruned (biases, BatchNorm — many in MobileNetV2 — embeddings).
        min_size_reduction=0.8 * bitmap_reduction(sparsity),
        **limits,
    )
    assert result.method_result(pc.SparsityResult).pruned_sparsity == pytest.approx(sparsity, abs=1e-3)
    assert result.size.compressed_nonzero < result.size.reference_nonzero


@pytest.mark.parametrize(
    ("ratio", "finetune_epochs", "limits"),
    [
        (0.25, 0, {}),
        (0.5, 0, {}),
        (0.5, 3, {"max_accuracy_drop": 0.02, "min_size_reduction": 2.5}),
    ],
)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="prune-structured")
def test_prune_structured(compress_check, model, ratio, finetune_epochs, limits):
    if model == MOBILENET:
        # 3 fine-tune epochs recover ResNet-18 and the CNN, not MobileNetV2 (about 70%): its
        # accuracy is guarded by the baseline only.
        limits = {k: v for k, v in limits.items() if k != "max_accuracy_drop"}
    result = compress_check(model=model, method_args={"ratio": ratio, "finetune_epochs": finetune_epochs}, **limits)
    # Channels are physically gone: fewer parameters, not zeros.
    assert result.size.compressed_params < result.size.reference_params


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="lowrank", method_args={"rank_fraction": 0.25})
def test_lowrank(compress_check, model):
    result = compress_check(model=model)
    assert result.size.compressed_params < result.size.reference_params


@pytest.mark.parametrize(
    ("clusters", "limits"),
    [(16, {"min_size_reduction": 6.0}), (256, {"min_size_reduction": 3.5, "max_accuracy_drop": 0.01})],
)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="cluster")
def test_cluster(compress_check, model, clusters, limits):
    compress_check(model=model, method_args={"clusters": clusters}, **limits)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="distill")
def test_distill(compress_check, model):
    result = compress_check(model=model)
    # The report's metric is the distilled student; the control is the same student trained alone.
    assert 0.0 <= result.method_result(pc.DistillationResult).student_without_teacher <= 1.0
    assert result.size.compressed_params < result.size.reference_params


@pytest.mark.parametrize(
    "model", [CNN, RESNET, pytest.param(MOBILENET, marks=pytest.mark.compress(max_accuracy_drop=None)), VIT]
)
@pytest.mark.compress(
    method="pipeline",
    method_args={"steps": [["prune-structured", {"ratio": 0.5, "finetune_epochs": 3}], ["int8-static", {}]]},
    max_accuracy_drop=0.03,
    min_size_reduction=8.0,
)
def test_hybrid_structured_then_int8(compress_check, model):
    compress_check(model=model)
