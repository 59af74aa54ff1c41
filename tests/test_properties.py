"""Property tests (hypothesis) of the compression methods on random small models."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pytest_compress.formats.container import pack_codes, unpack_codes
from pytest_compress.methods.clustering import ClusterConfig, cluster
from pytest_compress.methods.lowrank import factorize
from pytest_compress.methods.pruning import UnstructuredConfig, global_magnitude_masks, prune_unstructured
from pytest_compress.methods.quantization import Int8DynamicConfig, int8_dynamic
from pytest_compress.methods.structured import StructuredConfig, prune_structured
from pytest_compress.spec import MethodContext

SETTINGS = settings(max_examples=25, deadline=None)
dims = st.integers(min_value=2, max_value=24)
seeds = st.integers(min_value=0, max_value=2**16)


def _mlp(seed: int, d_in: int, d_hidden: int, d_out: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))


@SETTINGS
@given(
    seed=seeds,
    shapes=st.lists(st.tuples(dims, dims), min_size=1, max_size=4),
    sparsity=st.floats(min_value=0.0, max_value=0.99),
)
def test_unstructured_pruning_hits_the_exact_sparsity(seed, shapes, sparsity) -> None:
    torch.manual_seed(seed)
    # include exact ties: values drawn from a small set
    weights = [torch.randint(-3, 4, s).float() for s in shapes]
    masks = global_magnitude_masks(weights, sparsity)
    total = sum(w.numel() for w in weights)
    assert sum(int((~m).sum()) for m in masks) == round(sparsity * total)


@SETTINGS
@given(seed=seeds, d_in=dims, d_hidden=dims, d_out=dims)
def test_int8_dequantization_error_is_at_most_half_a_step(seed, d_in, d_hidden, d_out) -> None:
    model = _mlp(seed, d_in, d_hidden, d_out)
    originals = [m.weight.detach().clone() for m in model if isinstance(m, nn.Linear)]
    q = int8_dynamic(model, Int8DynamicConfig(), MethodContext(example_inputs=(torch.randn(1, d_in),)))
    quantized = [m.weight() for m in q.modules() if callable(getattr(m, "weight", None))]
    for w, qw in zip(originals, quantized, strict=True):
        if qw.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            step = qw.q_per_channel_scales().float()[:, None]
        else:
            step = torch.tensor(qw.q_scale())
        assert torch.all((qw.dequantize() - w).abs() <= step / 2 + 1e-6)


def _convnet(seed: int, width: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 5),
    ).eval()


@settings(max_examples=10, deadline=None)
@given(seed=seeds, width=st.integers(min_value=4, max_value=16), ratio=st.sampled_from([0.25, 0.5]))
def test_structured_pruning_keeps_output_shape_and_removes_parameters(seed, width, ratio) -> None:
    model = _convnet(seed, width)
    x = torch.randn(2, 3, 8, 8)
    before = sum(p.numel() for p in model.parameters())
    pruned = prune_structured(model, StructuredConfig(ratio=ratio), MethodContext(example_inputs=(x[:1],)))
    assert pruned(x).shape == (2, 5)
    assert sum(p.numel() for p in pruned.parameters()) < before


@SETTINGS
@given(seed=seeds, d_in=dims, d_out=dims)
def test_full_rank_svd_reproduces_the_layer(seed, d_in, d_out) -> None:
    torch.manual_seed(seed)
    layer = nn.Linear(d_in, d_out)
    x = torch.randn(4, d_in)
    assert torch.allclose(factorize(layer, min(d_in, d_out))(x), layer(x), atol=1e-4)


@SETTINGS
@given(seed=seeds, d_in=dims, d_hidden=dims, d_out=dims, k=st.sampled_from([2, 4, 16, 256]))
def test_clustering_leaves_at_most_k_values_per_layer(seed, d_in, d_hidden, d_out, k) -> None:
    model = _mlp(seed, d_in, d_hidden, d_out)
    art = cluster(model, ClusterConfig(clusters=k), MethodContext(example_inputs=(torch.randn(1, d_in),)))
    for m in art.module.modules():
        if isinstance(m, nn.Linear):
            assert torch.unique(m.weight).numel() <= k


@SETTINGS
@given(seed=seeds, d=st.integers(min_value=16, max_value=64))
def test_size_is_monotone_in_sparsity_and_bits(seed, d) -> None:
    sizes = []
    for sparsity in (0.0, 0.3, 0.6, 0.9):
        model = _mlp(seed, d, d, d)
        art = prune_unstructured(model, UnstructuredConfig(sparsity=sparsity), MethodContext(example_inputs=()))
        sizes.append(len(art.payload))
    assert sizes == sorted(sizes, reverse=True)
    ctx = MethodContext(example_inputs=())
    by_bits = [len(cluster(_mlp(seed, d, d, d), ClusterConfig(clusters=k), ctx).payload) for k in (4, 16, 256)]
    assert by_bits == sorted(by_bits)


@SETTINGS
@given(bits=st.integers(min_value=1, max_value=8), data=st.data())
def test_code_packing_is_lossless(bits, data) -> None:
    codes = data.draw(st.lists(st.integers(min_value=0, max_value=2**bits - 1), min_size=0, max_size=200))
    t = torch.tensor(codes, dtype=torch.int64)
    packed = pack_codes(t, bits)
    assert packed.numel() == (len(codes) * bits + 7) // 8
    assert torch.equal(unpack_codes(packed, bits, len(codes)), t)
