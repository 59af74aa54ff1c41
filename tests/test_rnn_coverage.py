"""Layer coverage is honest: recurrent weights are pruned, quantized and counted, or the method
refuses naming the layers; a reported sparsity is the sparsity of the model's weights."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from pytest_compress.formats.container import safetensors_metadata
from pytest_compress.formats.dense import dense_payload
from pytest_compress.formats.sparse import decode_sparse
from pytest_compress.measure.size import count_parameters, count_weights
from pytest_compress.methods.clustering import ClusterConfig, cluster
from pytest_compress.methods.lowrank import LowRankConfig, lowrank
from pytest_compress.methods.pruning import (
    SemiStructuredConfig,
    UnstructuredConfig,
    prune_semistructured,
    prune_unstructured,
)
from pytest_compress.methods.quantization import Int8DynamicConfig, int8_dynamic
from pytest_compress.methods.structured import StructuredConfig, prune_structured_artifact
from pytest_compress.results import CoverageResult, SparsityResult
from pytest_compress.spec import MethodContext, NotApplicable

RNNS = {"GRU": nn.GRU, "LSTM": nn.LSTM, "RNN": nn.RNN}


class Tagger(nn.Module):
    """Token ids -> embedding -> recurrent layer -> Linear head: most weights sit in the RNN."""

    def __init__(self, kind: type[nn.Module] = nn.GRU, embed: bool = True, layers: int = 1, bi: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(50, 16) if embed else None
        self.rnn = kind(16, 32, num_layers=layers, bidirectional=bi, batch_first=True)
        self.head = nn.Linear(32 * (2 if bi else 1), 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(x) if self.emb is not None else x)
        return self.head(out[:, -1])


def _inputs(model: Tagger) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 50, (4, 7), generator=g) if model.emb is not None else torch.randn(4, 7, 16, generator=g)


def _ctx(model: Tagger, keep_float: tuple[str, ...] = ()) -> MethodContext:
    x = _inputs(model)
    return MethodContext(example_inputs=(x[:1],), calib_data=x, keep_float=keep_float)


def _measured_weight_sparsity(model: nn.Module) -> float:
    """Zeros over every weight tensor (2+ dims) of the model, counted here without the plugin."""
    weights = [p for p in model.parameters() if p.dim() >= 2]
    return sum(int((p == 0).sum()) for p in weights) / sum(p.numel() for p in weights)


def _sparsity(art: object) -> SparsityResult:
    found = art.result(SparsityResult)  # type: ignore[attr-defined]
    assert found is not None
    return found


def _rnn_weights(model: Tagger) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.rnn.named_parameters() if n.startswith("weight_")}


@pytest.mark.parametrize("kind", sorted(RNNS))
def test_unstructured_prunes_recurrent_weights_to_the_reported_sparsity(kind: str) -> None:
    model = Tagger(RNNS[kind], embed=False, layers=2, bi=True)
    before = {n: p.detach().clone() for n, p in _rnn_weights(model).items()}
    before_total, before_nonzero = count_parameters(model)
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5), _ctx(model))

    # Every weight is a GRU/LSTM/RNN gate matrix or the head's: all are pruned, nothing left out.
    assert _sparsity(art).left_out == ()
    assert _measured_weight_sparsity(art.module) == 0.5
    assert _sparsity(art).weight_sparsity == _sparsity(art).pruned_sparsity == 0.5
    weights, nonzero = count_weights(art.module)
    assert _sparsity(art).weight_sparsity == round((weights - nonzero) / weights, 6)
    total, after_nonzero = count_parameters(art.module)
    assert total == before_total and before_nonzero - after_nonzero == weights // 2

    # The recurrent matrices themselves carry the zeros, at the smallest magnitudes (one global threshold).
    kept_min = min(float(p[p != 0].abs().min()) for p in _rnn_weights(art.module).values())
    for name, p in _rnn_weights(art.module).items():
        zeros = p == 0
        assert zeros.any(), f"{kind}.{name} was not pruned"
        assert float(before[name][zeros].abs().max()) <= kept_min
        assert torch.equal(p[~zeros], before[name][~zeros])
    art.module(_inputs(model))  # still runs


def test_pruned_recurrent_weights_ship_sparse_and_decode_exactly() -> None:
    model = Tagger(nn.GRU, embed=False)
    dense = len(dense_payload(model))
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5), _ctx(model))
    encoded = json.loads(safetensors_metadata(art.payload)["pytest-compress"])["encoded"]
    assert {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "head.weight"} <= set(encoded)
    decoded = decode_sparse(art.payload)
    for k, v in art.module.state_dict().items():
        assert torch.equal(decoded[k], v)
    assert len(art.payload) < 0.7 * dense  # the GRU's zeros are bytes saved, not only the head's


def test_sparsity_of_a_model_with_an_embedding_states_what_was_left_out() -> None:
    model = Tagger(nn.GRU)
    _, before_nonzero = count_parameters(model)
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5), _ctx(model))
    assert _sparsity(art).left_out == ("emb.weight (Embedding, 800 weights)",)
    assert _sparsity(art).pruned_sparsity == 0.5
    measured = _measured_weight_sparsity(art.module)
    assert _sparsity(art).weight_sparsity == round(measured, 6)
    assert measured == 2432 / 5664  # half of GRU 4,608 + head 256; the embedding's 800 stay dense
    # Over the weights it says it pruned (all but the left-out ones) it is exactly one half.
    weights, nonzero = count_weights(art.module)
    assert (weights - nonzero) / (weights - 800) == 0.5
    assert before_nonzero - count_parameters(art.module)[1] == (weights - 800) // 2
    assert all((p == 0).any() for p in _rnn_weights(art.module).values())


def test_a_linear_only_layer_set_reports_the_recurrent_weights_it_left_out() -> None:
    model = Tagger(nn.GRU)
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5, layers=("Linear",)), _ctx(model))
    assert _sparsity(art).pruned_sparsity == 0.5
    assert _sparsity(art).weight_sparsity == round(_measured_weight_sparsity(art.module), 6) < 0.05
    left = " ".join(_sparsity(art).left_out)
    for name in ("emb.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0"):
        assert name in left
    assert not any((p == 0).any() for p in _rnn_weights(art.module).values())


def test_explicit_recurrent_layer_types_are_accepted() -> None:
    model = Tagger(nn.GRU)
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5, layers=("Linear", "GRU")), _ctx(model))
    assert _sparsity(art).pruned_sparsity == 0.5
    assert all((p == 0).any() for p in _rnn_weights(art.module).values())
    UnstructuredConfig(layers=("LSTM", "RNN"))
    with pytest.raises(ValueError, match="'Embedding'"):
        UnstructuredConfig(layers=("Embedding",))


def test_keep_float_recurrent_layer_is_left_out_by_name() -> None:
    model = Tagger(nn.LSTM, embed=False)
    art = prune_unstructured(model, UnstructuredConfig(sparsity=0.5), _ctx(model, keep_float=("rnn",)))
    assert [s.split(" ")[0] for s in _sparsity(art).left_out] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    assert not any((p == 0).any() for p in _rnn_weights(art.module).values())


def test_refusals_name_the_layers() -> None:
    model = Tagger(nn.GRU)
    with pytest.raises(NotApplicable, match=r"no Conv2d layer to prune; .*GRU \(rnn\)"):
        prune_unstructured(model, UnstructuredConfig(layers=("Conv2d",)), _ctx(model))
    with pytest.raises(NotApplicable, match=r"wanda .* cannot score GRU \(rnn\)"):
        prune_unstructured(model, UnstructuredConfig(criterion="wanda", layers=("Linear", "GRU")), _ctx(model))
    with pytest.raises(NotApplicable, match=r"no GRU layer to quantize; .*Embedding \(0\), Linear \(1, 2\)"):
        mlp = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 4), nn.Linear(4, 2))
        int8_dynamic(mlp, Int8DynamicConfig(layers=("GRU",)), _ctx(model))


def test_wanda_on_the_linear_layers_of_a_recurrent_model_states_the_rest() -> None:
    model = Tagger(nn.GRU)
    art = prune_unstructured(model, UnstructuredConfig(criterion="wanda", layers=("Linear",)), _ctx(model))
    assert any(s.startswith("rnn.weight_hh_l0 ") for s in _sparsity(art).left_out)
    assert _sparsity(art).weight_sparsity == round(_measured_weight_sparsity(art.module), 6)


def test_semistructured_reports_model_sparsity_and_what_it_skipped() -> None:
    model = Tagger(nn.GRU)
    art = prune_semistructured(model, SemiStructuredConfig(), _ctx(model))
    assert _sparsity(art).pruned_sparsity == 0.5  # the head's 2:4 pattern
    assert _sparsity(art).weight_sparsity == round(_measured_weight_sparsity(art.module), 6) < 0.1
    assert any(s.startswith("rnn.weight_ih_l0 (GRU,") for s in _sparsity(art).left_out)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_int8_dynamic_quantizes_and_counts_recurrent_weights(kind: str) -> None:
    model = Tagger(RNNS[kind], layers=2, bi=True)
    fp32 = copy.deepcopy(model)
    total, _ = count_parameters(model)
    q = int8_dynamic(model, Int8DynamicConfig(), _ctx(model))
    assert type(q.rnn).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert all(w.dtype == torch.qint8 for w in q.rnn.get_weight().values())
    assert count_parameters(q)[0] == total
    assert count_weights(q)[0] == count_weights(fp32)[0]
    assert len(dense_payload(q)) < 0.4 * len(dense_payload(fp32))
    assert torch.allclose(q(_inputs(fp32)), fp32(_inputs(fp32)), atol=0.1)


def test_int8_dynamic_quantizes_and_counts_recurrent_cells() -> None:
    model = nn.Sequential(nn.GRUCell(8, 16), nn.LSTMCell(16, 4), nn.RNNCell(4, 4))
    total = count_parameters(model)[0]
    q = int8_dynamic(model, Int8DynamicConfig(), MethodContext(example_inputs=()))
    assert all(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic") for m in q)
    assert count_parameters(q)[0] == total


def test_int8_dynamic_refuses_a_plain_rnn_by_name_unless_kept_float() -> None:
    model = Tagger(nn.RNN)
    with pytest.raises(NotApplicable, match=r"cannot quantize RNN \(rnn\)"):
        int8_dynamic(copy.deepcopy(model), Int8DynamicConfig(), _ctx(model))
    q = int8_dynamic(model, Int8DynamicConfig(), _ctx(model, keep_float=("rnn",)))
    assert type(q.rnn) is nn.RNN and callable(q.head.weight)


def test_tied_weights_are_counted_once() -> None:
    emb, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    assert count_parameters(nn.Sequential(emb, head)) == (40, 40)
    assert count_weights(nn.Sequential(emb, nn.LayerNorm(4), head)) == (40, 40)


def _coverage(art: object) -> CoverageResult:
    found = art.result(CoverageResult)  # type: ignore[attr-defined]
    assert found is not None
    return found


def test_lowrank_names_the_recurrent_weights_it_does_not_factorise() -> None:
    model = Tagger(nn.GRU)
    model.head = nn.Linear(32, 32)  # a head that shrinks at rank 8
    art = lowrank(model, LowRankConfig(rank_fraction=0.25), _ctx(model))
    cov = _coverage(art)
    assert cov.changed_tensors == 1
    assert [s.split(" ")[0] for s in cov.left_out] == ["emb.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    assert cov.left_out[1] == "rnn.weight_ih_l0 (GRU, 1536 weights)"


def test_cluster_names_the_recurrent_weights_it_does_not_share() -> None:
    model = Tagger(nn.GRU)
    rnn_before = {n: p.detach().clone() for n, p in _rnn_weights(model).items()}
    art = cluster(model, ClusterConfig(clusters=4), _ctx(model))
    cov = _coverage(art)
    assert cov.changed_tensors == 1  # the head
    assert [s.split(" ")[0] for s in cov.left_out] == ["emb.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    for n, p in _rnn_weights(art.module).items():
        assert torch.equal(p, rnn_before[n])  # really left alone, as reported
    assert len(art.module.head.weight.unique()) <= 4


def test_structured_pruning_names_the_weights_whose_shape_did_not_change() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 3)
    )
    x = torch.randn(2, 1, 8, 8)
    art = prune_structured_artifact(model, StructuredConfig(ratio=0.5), MethodContext(example_inputs=(x,)))
    cov = _coverage(art)
    shapes = {n: tuple(p.shape) for n, p in art.module.named_parameters() if p.dim() >= 2}
    assert shapes["0.weight"][0] == 4 and shapes["2.weight"][:2] == (4, 4)  # channels physically removed
    # The classifier keeps all its outputs by design; its inputs shrank, so it changed too.
    assert cov.changed_tensors == 3 and cov.left_out == ()
    assert art.module(x).shape == (2, 3)
