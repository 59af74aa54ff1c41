"""LLM compression building blocks: packed int4, group-wise dequantization, N:M masks, Wanda, LoRA.

Property tests (hypothesis) state what must hold for *every* input, not for one example.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pytest_compress.formats import WEIGHT_ONLY
from pytest_compress.formats.container import pack_codes, unpack_codes
from pytest_compress.formats.weight_only import decode_weight_only, encode_weight_only
from pytest_compress.measure.size import linear_weight_storage
from pytest_compress.methods.pruning import nm_mask, row_masks
from pytest_compress.methods.weight_only import quantize_weights
from pytest_compress.paired import bca_ci
from pytest_compress.spec import Metric, NotApplicable

FAST = settings(max_examples=25, deadline=None)


@FAST
@given(codes=st.lists(st.integers(0, 15), max_size=300))
def test_int4_pack_unpack_is_lossless(codes):
    t = torch.tensor(codes, dtype=torch.int64)
    packed = pack_codes(t, 4)
    assert packed.dtype == torch.uint8
    assert packed.numel() == math.ceil(len(codes) / 2)  # two codes per byte
    assert torch.equal(unpack_codes(packed, 4, len(codes)), t)


def test_int4_low_nibble_first():
    assert pack_codes(torch.tensor([0x3, 0xA]), 4).tolist() == [0xA3]


def _linear(out_f: int, in_f: int, seed: int, scale: float) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(in_f, out_f))
    with torch.no_grad():
        model[0].weight.mul_(scale)
    return model


@FAST
@given(
    group=st.sampled_from([32, 64, 128]),
    groups=st.integers(1, 3),
    out_f=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-3, 1e3),
    symmetric=st.booleans(),
)
def test_groupwise_dequantization_error_is_at_most_half_a_step(group, groups, out_f, seed, scale, symmetric):
    model = _linear(out_f, group * groups, seed, scale)
    w = model[0].weight.detach().clone()
    quantize_weights(model, bits=4, group_size=group, symmetric=symmetric, scale_dtype="float32", keep_float=())
    q = model[0].weight
    assert q.scale.shape == (out_f, groups)
    decoded = decode_weight_only(encode_weight_only(model.state_dict()))["0.weight"]
    step = q.scale.float().repeat_interleave(group, dim=1)
    err = (decoded - w).abs()
    assert torch.all(err <= step / 2 * (1 + 1e-4) + 1e-7), float((err / step).max())


@pytest.mark.parametrize("bits,group", [(4, 32), (4, 128), (8, None)])
def test_weight_only_file_holds_exactly_the_weights_the_module_runs(bits, group):
    model = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10))
    reference = copy.deepcopy(model)
    x = torch.randn(3, 256)
    names = quantize_weights(
        model, bits=bits, group_size=group, symmetric=bits == 8, scale_dtype="float16", keep_float=("2",)
    )
    assert names == ["0"]  # "2" is kept float
    payload = encode_weight_only(model.state_dict())
    decoded = decode_weight_only(payload)
    assert torch.equal(decoded["0.weight"], model[0].weight.dequantize())
    assert torch.equal(decoded["2.weight"], model[2].weight)
    # The decoded float model computes what the quantized module computes.
    plain = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10))
    plain.load_state_dict(decoded)
    torch.testing.assert_close(plain(x), model(x), rtol=1e-5, atol=1e-5)
    acct = linear_weight_storage(reference, payload, WEIGHT_ONLY, keep_float=("2",))
    assert acct is not None
    groups_per_row = 256 // (group or 256)
    if bits == 4:  # packed codes + fp16 scale + packed (or int8) zero point per group
        assert acct.linear_weight_bytes <= 64 * 256 // 2 + 64 * groups_per_row * (2 + 1)
    else:
        assert acct.linear_weight_bytes == 64 * 256 + 64 * 2  # int8 codes + one fp16 scale per row
    assert acct.linear_weight_reference_bytes == 4 * 64 * 256


def test_weight_only_rejects_other_payloads():
    from safetensors.torch import save

    with pytest.raises(ValueError, match=WEIGHT_ONLY):
        decode_weight_only(save({"a": torch.zeros(2)}))


def test_nothing_to_quantize_is_not_applicable():
    with pytest.raises(NotApplicable, match="no nn.Linear"):
        quantize_weights(
            nn.Sequential(nn.Linear(10, 4)),
            bits=4,
            group_size=32,
            symmetric=False,
            scale_dtype="float16",
            keep_float=(),
        )


@FAST
@given(rows=st.integers(1, 8), groups=st.integers(1, 16), seed=st.integers(0, 2**16))
def test_2_4_masks_keep_exactly_two_of_every_four(rows, groups, seed):
    scores = torch.rand(rows, 4 * groups, generator=torch.Generator().manual_seed(seed))
    keep = nm_mask(scores, 2, 4)
    assert torch.all(keep.reshape(rows, groups, 4).sum(dim=2) == 2)
    # and the kept two are the two largest of their group
    g = scores.reshape(rows, groups, 4)
    kept_min = torch.where(keep.reshape(rows, groups, 4), g, torch.inf).amin(dim=2)
    dropped_max = torch.where(keep.reshape(rows, groups, 4), -torch.inf, g).amax(dim=2)
    assert torch.all(kept_min >= dropped_max)


def test_nm_mask_needs_divisible_rows():
    with pytest.raises(ValueError, match="divisible by 4"):
        nm_mask(torch.rand(2, 6), 2, 4)


@FAST
@given(rows=st.integers(1, 6), cols=st.integers(1, 40), sparsity=st.floats(0, 0.95), seed=st.integers(0, 99))
def test_row_masks_drop_the_same_count_in_every_row(rows, cols, sparsity, seed):
    scores = torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed))
    keep = row_masks(scores, sparsity)
    assert torch.all((~keep).sum(dim=1) == round(sparsity * cols))


def test_wanda_uses_activation_norms():
    """A weight on a loud input feature outranks a larger weight on a silent one."""
    from pytest_compress.methods.pruning import wanda_scores
    from pytest_compress.spec import MethodContext

    layer = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.1]]))
    calib = torch.tensor([[0.0, 100.0]] * 4)
    (scores,) = wanda_scores(
        nn.Sequential(layer), [(layer, "weight")], MethodContext(example_inputs=(calib,), calib_data=calib)
    )
    assert scores[0, 1] > scores[0, 0]
    assert row_masks(scores, 0.5).tolist() == [[False, True]]


@FAST
@given(rank=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_lora_with_zero_initialised_b_leaves_outputs_unchanged(rank, seed):
    from peft import LoraConfig, inject_adapter_in_model

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    x = torch.randn(5, 16)
    before = model(x).detach()
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["0", "2"]), model)
    assert any("lora_B" in n for n, _ in model.named_parameters())
    assert torch.equal(model(x).detach(), before)


def test_perplexity_aggregate_and_its_interval():
    nll = Metric(name="perplexity", unit="per byte", higher_is_better=False, score=None, aggregate="exp-mean")
    assert nll.value([1.0, 3.0]) == pytest.approx(math.exp(2.0))
    ref, cmp = [1.0, 1.2, 0.9, 1.1] * 10, [1.1, 1.3, 1.0, 1.2] * 10
    lo, hi = bca_ci(ref, cmp, confidence=0.9, aggregate="exp-mean")
    # Every resample's mean NLLs differ by exactly 0.1 nats (its perplexity difference still varies).
    exact = math.exp(sum(ref) / 40) - math.exp(sum(cmp) / 40)
    assert lo <= exact <= hi < 0
    with pytest.raises(ValueError, match="aggregate"):
        Metric(name="m", unit="u", higher_is_better=True, score=None, aggregate="median")


def test_wanda_runs_variable_length_calibration_inputs_one_by_one():
    """Unpadded sentences of different lengths: each is its own forward, no padding is counted."""
    from pytest_compress.methods.pruning import wanda_scores
    from pytest_compress.spec import MethodContext

    layer = nn.Linear(3, 2, bias=False)
    calib = (torch.ones(1, 2, 3), torch.ones(1, 5, 3) * 2)  # (batch, tokens, features), 2 and 5 tokens
    ctx = MethodContext(example_inputs=(calib[0],), calib_data=calib)
    (scores,) = wanda_scores(nn.Sequential(layer), [(layer, "weight")], ctx)
    expected_norm = math.sqrt(2 * 1 + 5 * 4)  # per feature: 2 tokens of 1.0 and 5 tokens of 2.0
    torch.testing.assert_close(scores, layer.weight.detach().abs() * expected_norm)
