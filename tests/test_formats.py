"""Every built-in artifact format decodes to what the module runs with (property tests, hypothesis),
and its accounting describes exactly what it decodes (tests/test_format_registry.py: third parties)."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pytest_compress.formats import (
    CLUSTERED,
    DENSE,
    SPARSE_BITMAP,
    WEIGHT_ONLY,
    WEIGHT_ONLY_LORA,
    Format,
    FormatError,
    get_format,
)
from pytest_compress.measure.size import linear_weight_storage
from pytest_compress.spec import MethodContext

SETTINGS = settings(max_examples=20, deadline=None)
seeds = st.integers(min_value=0, max_value=2**16)
dims = st.integers(min_value=1, max_value=24)


def _mlp(seed: int, d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out)).eval()


def _same_tensors(decoded: dict, state: dict) -> None:
    assert set(decoded) == set(state)
    for k, v in state.items():
        assert decoded[k].dtype == v.dtype, k
        assert torch.equal(decoded[k], v), k


def _accounts_for_what_it_decodes(fmt: Format, payload: bytes) -> None:
    """The accounting names only decoded tensors, with their decoded shapes, and never spends
    more bytes than the payload has."""
    stored, decoded = fmt.stored(payload), fmt.decode(payload)
    assert set(stored) <= set(decoded)
    for name, t in stored.items():
        value = decoded[name]
        shape = value[0].shape if isinstance(value, tuple) else value.shape  # torch.ao's (weight, bias)
        assert t.shape == tuple(shape), name
    assert sum(t.nbytes for t in stored.values()) <= len(payload)


# --- dense: torch.save(state_dict), its 16-bit variants, low-rank factors -------------------------


@SETTINGS
@given(seed=seeds, d_in=dims, d_hidden=dims, d_out=dims)
def test_dense_round_trip_is_exact(seed, d_in, d_hidden, d_out) -> None:
    model = _mlp(seed, d_in, d_hidden, d_out)
    fmt = get_format(DENSE)
    payload = fmt.encode(model.state_dict())
    _same_tensors(fmt.decode(payload), model.state_dict())
    _accounts_for_what_it_decodes(fmt, payload)


@SETTINGS
@given(seed=seeds, d_in=dims, d_hidden=dims, d_out=dims, method=st.sampled_from(["fp16", "bf16"]))
def test_half_precision_decodes_to_the_weights_the_module_computes_with(seed, d_in, d_hidden, d_out, method) -> None:
    from pytest_compress.methods.precision import Bf16Config, Fp16Config, bf16, fp16

    apply, config = (fp16, Fp16Config()) if method == "fp16" else (bf16, Bf16Config())
    art = apply(_mlp(seed, d_in, d_hidden, d_out), config, MethodContext(example_inputs=()))
    fmt = get_format(art.encoding)
    decoded = fmt.decode(art.payload)
    assert {v.dtype for v in decoded.values()} == {fmt.dtype}
    # compute="fp32": the module runs the stored 16-bit values, upcast
    _same_tensors({k: v.float() for k, v in decoded.items()}, art.module.state_dict())
    _accounts_for_what_it_decodes(fmt, art.payload)


@SETTINGS
@given(seed=seeds, d_in=st.integers(8, 32), d_hidden=st.integers(8, 32), d_out=st.integers(8, 32))
def test_lowrank_factors_round_trip_and_are_counted(seed, d_in, d_hidden, d_out) -> None:
    from pytest_compress.formats.dense import dense_payload
    from pytest_compress.methods.lowrank import LowRankConfig, lowrank

    reference = _mlp(seed, d_in, d_hidden, d_out)
    try:
        low = lowrank(
            copy.deepcopy(reference), LowRankConfig(rank_fraction=0.25), MethodContext(example_inputs=())
        ).module
    except ValueError:  # no layer gets smaller at this rank: nothing to round-trip
        return
    payload = dense_payload(low)
    decoded = get_format(DENSE).decode(payload)
    _same_tensors(decoded, low.state_dict())
    # Linear L became L.0 and L.1: the factors (not the bias) are L's weight.
    expected = 0
    for name in ("0", "2"):
        layer = low.get_submodule(name)
        parts = [layer[0].weight, layer[1].weight] if isinstance(layer, nn.Sequential) else [layer.weight]
        expected += sum(4 * p.numel() for p in parts)
    storage = linear_weight_storage(reference, payload, DENSE)
    assert storage is not None and storage.linear_weight_bytes == expected


# --- torch.ao packed int8 (dynamic, eager static) --------------------------------------------------


class _Tagger(nn.Module):
    def __init__(self, seed: int, hidden: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.rnn = nn.GRU(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _dynamic(model: nn.Module) -> nn.Module:
    from pytest_compress.methods.quantization import Int8DynamicConfig, int8_dynamic

    return int8_dynamic(model, Int8DynamicConfig(), MethodContext(example_inputs=()))


@settings(max_examples=10, deadline=None)
@given(seed=seeds, hidden=st.integers(2, 16), recurrent=st.booleans())
def test_torch_ao_dynamic_int8_decodes_to_a_state_the_module_computes_the_same_with(seed, hidden, recurrent) -> None:
    from pytest_compress.formats.dense import dense_payload

    make = (lambda s: _Tagger(s, hidden)) if recurrent else (lambda s: _mlp(s, 8, hidden, 4))
    quantized = _dynamic(make(seed))
    payload = dense_payload(quantized)
    # A skeleton quantized from other weights, then loaded with what the payload decodes to.
    skeleton = _dynamic(make(seed + 1))
    skeleton.load_state_dict(get_format(DENSE).decode(payload))
    x = torch.randn(3, 5, 8) if recurrent else torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(skeleton(x), quantized(x))
    _accounts_for_what_it_decodes(get_format(DENSE), payload)


class _Stubbed(nn.Module):
    """Written for eager static quantization: stubs around the float body and a fuse_model()."""

    def __init__(self, seed: int, hidden: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.quant, self.dequant = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
        self.fc1, self.relu, self.fc2 = nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 4)

    def fuse_model(self) -> None:
        torch.ao.quantization.fuse_modules(self, [["fc1", "relu"]], inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.fc2(self.relu(self.fc1(self.quant(x)))))


@settings(max_examples=5, deadline=None)
@given(seed=seeds, hidden=st.integers(2, 16))
def test_torch_ao_static_int8_decodes_to_a_state_the_module_computes_the_same_with(seed, hidden) -> None:
    from pytest_compress.methods.quantization import Int8StaticConfig, int8_static

    engine = torch.backends.quantized.engine
    try:

        def static(s: int):  # noqa: ANN202
            calib = torch.randn(32, 8, generator=torch.Generator().manual_seed(s))
            config = Int8StaticConfig(calibration_examples=32, calibration_batch=16)
            return int8_static(
                _Stubbed(s, hidden), config, MethodContext(example_inputs=(calib[:1],), calib_data=calib)
            )

        art = static(seed)
        skeleton = static(seed + 1).module
        skeleton.load_state_dict(get_format(art.encoding).decode(art.payload))
        x = torch.randn(5, 8)
        with torch.no_grad():
            assert torch.equal(skeleton(x), art.module(x))
        _accounts_for_what_it_decodes(get_format(art.encoding), art.payload)
    finally:
        torch.backends.quantized.engine = engine


def test_pt2e_graph_state_round_trips_and_has_no_linear_breakdown() -> None:
    """A converted PT2E graph keeps its int8 weights as root attributes (``_frozen_param0``):
    decoded exactly, but no longer attributable to the reference's layers, so ``-``."""
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from pytest_compress.formats import PT2E
    from pytest_compress.methods.quantization import drop_unused_attributes

    reference = _mlp(0, 8, 16, 4)
    x = torch.randn(16, 8)
    exported = torch.export.export(copy.deepcopy(reference), (x,)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    prepared(x)
    graph = convert_pt2e(prepared)
    drop_unused_attributes(graph)
    fmt = get_format(PT2E)
    payload = fmt.encode(graph.state_dict())
    decoded = fmt.decode(payload)
    _same_tensors(decoded, graph.state_dict())
    _accounts_for_what_it_decodes(fmt, payload)
    before = graph(x)
    with torch.no_grad():
        for t in graph.state_dict().values():
            t.zero_()  # scales, zero points, int8 weights, biases: all from the payload below
    graph.load_state_dict(decoded)
    assert torch.equal(graph(x), before)
    assert linear_weight_storage(reference, payload, PT2E) is None


def test_decoding_rebuilds_only_torch_ao_packed_classes() -> None:
    from pytest_compress.formats.torchao import PackedScriptObject, rebuild

    fake = PackedScriptObject()
    fake.__setstate__(((), "__torch__.torch.classes.someone.Else"))
    with pytest.raises(FormatError, match="refusing to rebuild"):
        rebuild({"x": fake})


# --- sparse-bitmap ---------------------------------------------------------------------------------


@st.composite
def _sparse_states(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    state = {}
    for i in range(draw(st.integers(1, 4))):
        shape = tuple(draw(st.lists(st.integers(1, 9), min_size=0, max_size=3)))
        dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.int64]))
        g = torch.Generator().manual_seed(draw(seeds))
        values = torch.randn(shape, generator=g) * (torch.rand(shape, generator=g) > draw(st.floats(0, 1)))
        state[f"layer{i}.weight"] = values.to(dtype)
    return state


@SETTINGS
@given(state=_sparse_states())
def test_sparse_bitmap_round_trip_is_exact(state) -> None:
    fmt = get_format(SPARSE_BITMAP)
    payload = fmt.encode(state)
    _same_tensors(fmt.decode(payload), state)
    _accounts_for_what_it_decodes(fmt, payload)


@SETTINGS
@given(seed=seeds, d_in=st.integers(4, 24), d_out=st.integers(1, 12), sparsity=st.floats(0, 0.95))
def test_pruned_model_decodes_to_the_weights_it_runs_with(seed, d_in, d_out, sparsity) -> None:
    from pytest_compress.methods.pruning import UnstructuredConfig, prune_unstructured

    art = prune_unstructured(_mlp(seed, d_in, 16, d_out), UnstructuredConfig(sparsity=sparsity), MethodContext(()))
    _same_tensors(get_format(art.encoding).decode(art.payload), art.module.state_dict())


# --- weight-only int8 / int4 (and with LoRA adapters) ----------------------------------------------


@SETTINGS
@given(
    seed=seeds,
    bits_group=st.sampled_from([(8, None), (4, 16), (4, 32)]),
    groups=st.integers(1, 3),
    out_f=st.integers(1, 12),
    symmetric=st.booleans(),
)
def test_weight_only_decodes_to_the_weights_the_module_computes_with(seed, bits_group, groups, out_f, symmetric):
    from pytest_compress.formats.weight_only import is_quantized
    from pytest_compress.methods.weight_only import quantize_weights

    bits, group = bits_group
    model = _mlp(seed, (group or 16) * groups, 8, out_f)
    quantize_weights(model, bits=bits, group_size=group, symmetric=symmetric, scale_dtype="float16", keep_float=())
    fmt = get_format(WEIGHT_ONLY)
    payload = fmt.encode(model.state_dict())
    decoded = fmt.decode(payload)
    state = model.state_dict()
    for name, t in state.items():
        assert torch.equal(decoded[name], t.dequantize() if is_quantized(t) else t), name
    plain = _mlp(seed + 1, (group or 16) * groups, 8, out_f)
    plain.load_state_dict(decoded)
    x = torch.randn(3, (group or 16) * groups)
    torch.testing.assert_close(plain(x), model(x), rtol=1e-5, atol=1e-5)
    _accounts_for_what_it_decodes(fmt, payload)


@settings(max_examples=5, deadline=None)
@given(seed=seeds, rank=st.integers(1, 4))
def test_weight_only_with_lora_adapters_round_trips_and_counts_the_base_only(seed, rank) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    from pytest_compress.formats.weight_only import is_quantized
    from pytest_compress.methods.weight_only import quantize_weights

    reference = _mlp(seed, 32, 16, 4)
    model = copy.deepcopy(reference)
    quantize_weights(model, bits=4, group_size=16, symmetric=False, scale_dtype="float16", keep_float=())
    packed_only = linear_weight_storage(reference, get_format(WEIGHT_ONLY).encode(model.state_dict()), WEIGHT_ONLY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft: merge() of a torchao base needs the recipe
        model = inject_adapter_in_model(LoraConfig(r=rank, target_modules=["0", "2"], init_lora_weights=False), model)
    fmt = get_format(WEIGHT_ONLY_LORA)
    payload = fmt.encode(model.state_dict())
    decoded = fmt.decode(payload)
    for name, t in model.state_dict().items():
        assert torch.equal(decoded[name], t.dequantize() if is_quantized(t) else t), name
    _accounts_for_what_it_decodes(fmt, payload)
    # The adapters are not the layers' weights: the same bytes as the file without them.
    with_adapters = linear_weight_storage(reference, payload, WEIGHT_ONLY_LORA)
    assert packed_only is not None and with_adapters == packed_only


# --- clustered -------------------------------------------------------------------------------------


@SETTINGS
@given(seed=seeds, d_in=dims, d_hidden=dims, d_out=dims, k=st.sampled_from([2, 4, 16, 256]))
def test_clustered_model_decodes_to_the_weights_it_runs_with(seed, d_in, d_hidden, d_out, k) -> None:
    from pytest_compress.methods.clustering import ClusterConfig, cluster

    art = cluster(_mlp(seed, d_in, d_hidden, d_out), ClusterConfig(clusters=k), MethodContext(example_inputs=()))
    fmt = get_format(CLUSTERED)
    assert art.encoding == CLUSTERED
    _same_tensors(fmt.decode(art.payload), art.module.state_dict())
    _accounts_for_what_it_decodes(fmt, art.payload)


@SETTINGS
@given(bits=st.integers(1, 8), shape=st.lists(st.integers(1, 7), min_size=1, max_size=3), seed=seeds)
def test_clustered_values_round_trip(bits, shape, seed) -> None:
    from pytest_compress.formats.clustered import Clustered

    g = torch.Generator().manual_seed(seed)
    codebook = torch.randn(2**bits, generator=g)
    codes = torch.randint(0, 2**bits, (int(torch.tensor(shape).prod()),), generator=g)
    value = Clustered(codebook=codebook, codes=codes, shape=tuple(shape), bits=bits)
    fmt = get_format(CLUSTERED)
    decoded = fmt.decode(fmt.encode({"w": value, "b": torch.ones(3)}))
    assert torch.equal(decoded["w"], value.values()) and torch.equal(decoded["b"], torch.ones(3))
