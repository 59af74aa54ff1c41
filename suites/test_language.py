"""Language suite: the LLM half of the study, on models that run offline.

- ``stdlib-lm``: a Llama-architecture byte-level causal LM trained here on stdlib source
  (metric: held-out perplexity per byte; also KL divergence from the reference's next-byte
  distribution and top-1 agreement; latency: prefill of 128 bytes and 16-byte greedy decode).
- ``minilm-l6``: the pretrained all-MiniLM-L6-v2 sentence encoder (metric: cosine similarity of
  each sentence embedding to the reference's; also nearest-neighbour agreement).

Definitions: pytest_compress/zoo/text.py. Thresholds are the claims of LLM quantization practice
that the seed study (Saxena et al., 2024) relies on — int8 is near-lossless, int4 with small
groups stays within a few percent of perplexity, ~4x / ~8x smaller Linear weights — and this
CPU's limits (weight-only int8/int4 give size, not speed: no speed claims for them; the
baselines record the measured slowdown). Measured values live in baselines/.
"""

import pytest

import pytest_compress as pc

LM, MINILM = "stdlib-lm", "minilm-l6"

# The LM's output head and both models' embeddings stay float32 (ModelSpec.keep_float; embeddings
# are not Linear layers), so whole-artifact reductions sit below the Linear-weight reductions.
WHOLE = {
    # method: (LM, MiniLM) minimum whole-artifact size reduction. MiniLM's word embeddings are half
    # of its parameters, so int4 Linears shrink the whole file only ~1.7x.
    "int8": (3.0, 1.45),
    "int4": (4.5, 1.6),
}


# Baseline tolerances in each metric's unit. Evaluation is deterministic (the identical-artifact
# gate checks that), so these only need to absorb legitimate code changes; they are set well below
# the effects being measured (int4 moves LM perplexity by ~0.005 and MiniLM's cosine by ~0.03).
LM_TOLERANCE = {"accuracy_tolerance": 0.002}  # perplexity per byte (~0.04% of 5.4)
MINILM_TOLERANCE = {"accuracy_tolerance": 0.002}  # cosine


def model_params(lm_limits: dict, minilm_limits: dict) -> list:
    return [
        pytest.param(LM, marks=pytest.mark.compress(**LM_TOLERANCE, **lm_limits), id=LM),
        pytest.param(MINILM, marks=pytest.mark.compress(**MINILM_TOLERANCE, **minilm_limits), id=MINILM),
    ]


@pytest.mark.parametrize(
    "model",
    model_params(
        {"max_relative_drop": 0.02, "min_size_reduction": WHOLE["int8"][0]},
        # Not near-lossless on MiniLM: dynamic int8 uses one scale per activation tensor, and BERT's
        # activations have a few large outlier features, so the small ones lose their resolution.
        # Held to a cosine drop of 0.1; the baseline pins the measured value.
        {"max_accuracy_drop": 0.1, "min_size_reduction": WHOLE["int8"][1]},
    ),
)
@pytest.mark.compress(method="int8-dynamic")
def test_int8_dynamic(compress_check, model):
    compress_check(model=model)


@pytest.mark.parametrize(
    "model",
    model_params(
        {"max_relative_drop": 0.01, "min_size_reduction": WHOLE["int8"][0]},
        {"max_accuracy_drop": 0.005, "min_size_reduction": WHOLE["int8"][1]},
    ),
)
@pytest.mark.compress(method="int8-weight-only")
def test_int8_weight_only(compress_check, model):
    result = compress_check(model=model)
    # int8 codes + one float32 scale per output row: 8 + 32/in_features bits per weight.
    assert 8 < result.storage.bits_per_weight <= 8 + 32 / 256


@pytest.mark.parametrize(
    "model,group_size",
    [
        # The study's claim for 4-bit LLM weights: perplexity within +5%.
        *[
            pytest.param(
                LM,
                g,
                marks=pytest.mark.compress(**LM_TOLERANCE, max_relative_drop=0.05, min_size_reduction=WHOLE["int4"][0]),
            )
            for g in (32, 64, 128)
        ],
        # A sentence encoder has no perplexity; its embeddings move by a cosine drop of a few hundredths.
        *[
            pytest.param(
                MINILM,
                g,
                marks=pytest.mark.compress(
                    **MINILM_TOLERANCE, max_accuracy_drop=0.06, min_size_reduction=WHOLE["int4"][1]
                ),
            )
            for g in (32, 128)
        ],
    ],
)
@pytest.mark.compress(method="int4-weight-only")
def test_int4_weight_only(compress_check, model, group_size):
    result = compress_check(model=model, method_args={"group_size": group_size})
    # Packed for real: per weight a 4-bit code, per group of g weights a float16 scale and a 4-bit
    # zero point (torchao keeps asymmetric zero points inside the code range) — exactly
    # 4 + 20/g bits per weight (4.16 at g=128, 4.63 at g=32: 7.7x / 6.9x smaller than float32).
    assert result.storage.bits_per_weight == pytest.approx(4 + 20 / group_size, abs=1e-4)  # stored rounded


@pytest.mark.parametrize("method", ["fp16", "bf16"])
@pytest.mark.parametrize(
    "model",
    model_params({"max_relative_drop": 0.005}, {"max_accuracy_drop": 0.001}),
)
@pytest.mark.compress(min_size_reduction=1.95)
def test_half_precision_storage(compress_check, model, method):
    # Stored in 16 bits, computed in float32 (16-bit compute is much slower on this AVX2 CPU).
    compress_check(model=model, method=method)


@pytest.mark.parametrize("rank_fraction", [0.25, 0.4])
@pytest.mark.parametrize("model", model_params({}, {}))
@pytest.mark.compress(method="lowrank", min_size_reduction=1.1)
def test_lowrank(compress_check, model, rank_fraction):
    # Truncated SVD without fine-tuning: quality is guarded by the baselines only.
    compress_check(model=model, method_args={"rank_fraction": rank_fraction})


@pytest.mark.parametrize("criterion", ["magnitude", "wanda"])
@pytest.mark.parametrize("model", model_params({}, {}))
# Sparse-bitmap files: 50% of the Linear weights -> 17 of 32 bits each; embeddings stay dense.
@pytest.mark.compress(method="prune-unstructured", min_size_reduction=1.2)
def test_prune_unstructured(compress_check, model, criterion):
    # 50% of the Linear weights; magnitude is one global threshold, Wanda compares within rows
    # using activation norms from calibration data. Baselines guard quality; README compares them.
    result = compress_check(model=model, method_args={"sparsity": 0.5, "criterion": criterion, "layers": ("Linear",)})
    assert result.method_result(pc.SparsityResult).pruned_sparsity == 0.5


@pytest.mark.parametrize("criterion", ["magnitude", "wanda"])
@pytest.mark.parametrize("model", model_params({}, {}))
@pytest.mark.compress(method="prune-semistructured", min_size_reduction=1.2)
def test_prune_2_4(compress_check, model, criterion):
    result = compress_check(model=model, method_args={"criterion": criterion})
    sparsity = result.method_result(pc.SparsityResult)
    assert sparsity.pattern == "2:4"
    assert sparsity.pruned_sparsity == 0.5


@pytest.mark.parametrize(
    "bits",
    [
        # packed int4 base (g64) + float32 adapters; int8 base + the same adapters
        pytest.param(4, marks=pytest.mark.compress(min_size_reduction=4.0)),
        pytest.param(8, marks=pytest.mark.compress(min_size_reduction=2.7)),
    ],
)
@pytest.mark.compress(method="quantize-lora", **LM_TOLERANCE)
def test_quantize_lora(compress_check, bits):
    result = compress_check(model=LM, method_args={"bits": bits})
    d = result.method_result(pc.AdapterResult)
    # The adapters ship unmerged as float32 tensors: 4 bytes per adapter parameter, nothing else.
    assert d.adapter_bytes == 4 * d.adapter_params
    # The claim: adapters trained on the quantized base get it (nearly) as far as the same adapters
    # trained on the float base — the quantization loss is recovered, not just masked by training.
    assert d.recovered_fraction >= 0.8
    assert d.lora_metric <= d.control_metric * 1.005
