"""Sizes are bytes of real artifacts: sparse encoding round-trips, quantized weights are int8."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pytest_compress.formats import DENSE, FP16, SPARSE_BITMAP
from pytest_compress.formats.dense import dense_payload
from pytest_compress.formats.sparse import decode_sparse, encode_sparse
from pytest_compress.measure.size import count_parameters
from pytest_compress.methods.pruning import UnstructuredConfig, prune_unstructured
from pytest_compress.methods.quantization import Int8DynamicConfig, int8_dynamic
from pytest_compress.results import SparsityResult
from pytest_compress.spec import MethodContext


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10))


CTX = MethodContext(example_inputs=(torch.randn(1, 256),))


def test_sparse_encoding_roundtrips_exactly_and_is_smaller() -> None:
    model = _mlp()
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.75), CTX)
    decoded = decode_sparse(art.payload)
    state = model.state_dict()
    assert decoded.keys() == state.keys()
    for k in state:
        assert torch.equal(decoded[k], state[k])
    # 25% of fp32 values + 1 bit per weight, plus a small header
    weights = sum(m.weight.numel() for m in model if isinstance(m, nn.Linear))
    expected = weights * (0.25 * 4 + 1 / 8)
    assert len(art.payload) < expected * 1.1 + 4096
    assert len(art.payload) < len(dense_payload(model)) / 2.5


def test_dense_tensors_stay_dense_when_encoding_would_not_pay() -> None:
    payload = encode_sparse({"w": torch.ones(100)})
    assert torch.equal(decode_sparse(payload)["w"], torch.ones(100))
    assert b"w::bitmap" not in payload[:2000]


def test_pruning_is_permanent_and_exact() -> None:
    model = _mlp()
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5), CTX)
    assert not any(hasattr(m, "weight_orig") or m._forward_pre_hooks for m in art.module.modules())
    total, nonzero = count_parameters(art.module)
    weights = sum(m.weight.numel() for m in art.module if isinstance(m, nn.Linear))
    assert total - nonzero == weights // 2
    assert art.result(SparsityResult).weight_sparsity == 0.5


def test_dynamic_int8_stores_int8_weights() -> None:
    model = _mlp()
    fp32_bytes = len(dense_payload(model))
    q = int8_dynamic(model, Int8DynamicConfig(), CTX)
    qbytes = len(dense_payload(q))
    weights = [m.weight() for m in q.modules() if hasattr(m, "weight") and callable(m.weight)]
    assert weights and all(w.dtype == torch.qint8 for w in weights)
    assert fp32_bytes / qbytes > 3.5
    total, _ = count_parameters(q)
    assert total == sum(p.numel() for p in _mlp().parameters())


def test_identical_models_give_identical_bytes() -> None:
    payloads = {prune_unstructured(_mlp(), UnstructuredConfig(sparsity=0.5), CTX).payload for _ in range(5)}
    assert len(payloads) == 1


def test_linear_weight_storage_counts_the_linear_bytes_of_every_format() -> None:
    from pytest_compress.formats.dense import DENSE_FORMAT, FP16_FORMAT
    from pytest_compress.measure.size import linear_weight_storage
    from pytest_compress.methods.lowrank import LowRankConfig, lowrank
    from pytest_compress.spec import MethodContext

    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16))

    def bits(payload: bytes, encoding: str = DENSE) -> float:
        storage = linear_weight_storage(ref, payload, encoding)
        assert storage is not None
        return storage.bits_per_weight

    assert bits(dense_payload(ref)) == 32
    assert bits(FP16_FORMAT.encode(ref.state_dict()), FP16) == 16
    half_zero = {
        k: (v * (torch.arange(v.numel()).reshape(v.shape) % 2) if v.dim() == 2 else v)
        for k, v in ref.state_dict().items()
    }
    assert bits(encode_sparse(half_zero), SPARSE_BITMAP) == 17  # 16 bits of values + a 1-bit bitmap per weight
    q = int8_dynamic(copy.deepcopy(ref), Int8DynamicConfig(), MethodContext(example_inputs=()))
    # int8 codes + per layer one float64 scale and one int64 zero point (per-tensor qparams)
    assert bits(dense_payload(q)) == pytest.approx(8 * (2560 + 2 * 16) / 2560)
    low = lowrank(copy.deepcopy(ref), LowRankConfig(rank_fraction=0.25), MethodContext(example_inputs=())).module
    # ranks 8 (of 32) and 4 (of 16): factors of 8 x (64 + 32) and 4 x (32 + 16) float32 weights
    assert bits(dense_payload(low)) == pytest.approx(32 * (8 * 96 + 4 * 48) / (64 * 32 + 32 * 16))
    assert linear_weight_storage(ref, DENSE_FORMAT.encode({"other.weight": torch.zeros(3)}), DENSE) is None
    assert linear_weight_storage(ref, dense_payload(ref), DENSE, keep_float=("0", "2")) is None  # nothing to count
    # The encoding names the format that reads the payload: one no format claims gives no breakdown.
    assert linear_weight_storage(ref, dense_payload(ref), "someone's own format") is None
    assert linear_weight_storage(ref, dense_payload(ref), SPARSE_BITMAP) is None  # not what it says it is
