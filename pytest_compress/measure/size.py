"""Parameter and non-zero counts that also see inside quantized modules' packed weights."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def _packed_recurrent_types() -> tuple[type, ...]:
    from torch.ao.nn.quantized.dynamic.modules.rnn import RNNBase, RNNCellBase

    return (RNNBase, RNNCellBase)


def _weights(module: nn.Module) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    seen: set[int] = set()  # a tied parameter (shared embedding and head) is one set of weights
    recurrent = _packed_recurrent_types()
    for m in module.modules():
        weight = getattr(m, "weight", None)
        if isinstance(m, recurrent):
            # torch.ao's dynamic int8 GRU/LSTM (and cells) keep every gate matrix packed in
            # ScriptObjects (``_all_weight_values``) and expose no parameters: without this a
            # quantized GRU counted as 0 weights. get_weight()/get_bias() unpack them by name.
            found.extend(t for t in m.get_weight().values() if t is not None)
            found.extend(t for t in m.get_bias().values() if t is not None)
        elif callable(weight) and not isinstance(weight, torch.Tensor):
            # torch.ao quantized modules keep weights packed; weight()/bias() unpack them.
            found.append(weight())
            bias = m.bias() if callable(getattr(m, "bias", None)) else None
            if bias is not None:
                found.append(bias)
        else:
            for p in m.parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    found.append(p.detach())
    return found


def _graph_weights(gm: torch.fx.GraphModule) -> list[torch.Tensor]:
    # A PT2E graph keeps int8 weights as plain attributes: count every tensor it stores except
    # the quantization parameters themselves.
    return [t for k, t in gm.state_dict().items() if "scale" not in k and "zero_point" not in k]


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(parameters, non-zero parameters) of a float, quantized or PT2E-compiled module."""
    return _counts(_all_tensors(module))


def count_weights(module: nn.Module) -> tuple[int, int]:
    """(weights, non-zero weights): :func:`count_parameters` restricted to weight tensors — every
    matrix, kernel and embedding table (2 or more dimensions: Linear, Conv, GRU/LSTM/RNN gates,
    attention projections, embeddings), not biases or normalisation vectors. The denominator of
    a reported ``weight_sparsity``."""
    return _counts(t for t in _all_tensors(module) if t.dim() >= 2)


def _all_tensors(module: nn.Module) -> list[torch.Tensor]:
    inner = getattr(module, "_orig_mod", module)  # torch.compile wrapper
    return _graph_weights(inner) if isinstance(inner, torch.fx.GraphModule) else _weights(inner)


def _counts(weights: Iterable[torch.Tensor]) -> tuple[int, int]:
    total = nonzero = 0
    with torch.no_grad():
        for w in weights:
            # torch.ao quantized tensors and torchao tensor subclasses both know their float values.
            subclass = type(w) not in (torch.Tensor, nn.Parameter) and hasattr(w, "dequantize")
            values = w.dequantize() if w.is_quantized or subclass else w
            total += values.numel()
            nonzero += int(torch.count_nonzero(values))
    return total, nonzero


def _tensor_bytes(t: object) -> int:
    """Bytes a tensor occupies in a torch.save file; of a torch.ao packed-params ``(weight, bias)``
    tuple only the weight counts (biases are not Linear *weights* in any other format either)."""
    if isinstance(t, (tuple, list)):
        return _tensor_bytes(t[0]) if t else 0
    if not isinstance(t, torch.Tensor):
        return 0
    if t.is_quantized:
        data = t.int_repr().numel() * t.int_repr().element_size()
        if t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales, zps = t.q_per_channel_scales(), t.q_per_channel_zero_points()
            return data + scales.numel() * scales.element_size() + zps.numel() * zps.element_size()
        return data + 16  # one float64 scale and one int64 zero point
    return t.numel() * t.element_size()


def linear_weight_storage(
    reference: nn.Module, payload: bytes, keep_float: tuple[str, ...] = ()
) -> dict[str, float | int] | None:
    """Bytes the shipped payload spends on the reference's Linear weights, and bits per weight.

    The weights of each ``nn.Linear`` of the reference (except ``keep_float``) are looked up in
    the payload under the names compression methods give them: ``L.weight`` (dense, fp16,
    pruned), ``L.weight::*`` (sparse-bitmap and weight-only parts), ``L.base_layer.weight`` (a
    layer wrapped by peft's LoRA; its adapters are not counted), ``L.0.weight`` + ``L.1.weight``
    (low-rank factors), ``L._packed_params._packed_params`` (torch.ao int8). Bits per weight divide by the
    *reference's* weight count, so structured pruning and low rank show their saving. ``None``
    when some layer cannot be found (a compiled graph, another model) or the payload is in no
    format read here (ONNX, empty, damaged): no guessing.
    """
    names = [n for n, m in reference.named_modules() if type(m) is nn.Linear and n not in keep_float]
    if not names:
        return None
    weights = sum(reference.get_submodule(n).weight.numel() for n in names)
    sizes = _payload_sizes(payload)
    if sizes is None:
        return None
    stored = 0
    for n in names:
        exact = {f"{n}.weight", f"{n}.base_layer.weight", f"{n}.0.weight", f"{n}.1.weight"}
        exact.add(f"{n}._packed_params._packed_params")
        parts = (f"{n}.weight::", f"{n}.base_layer.weight::")  # the latter: a peft-wrapped layer
        found = [size for key, size in sizes.items() if key in exact or key.startswith(parts)]
        if not found:
            return None
        stored += sum(found)
    return {
        "linear_weight_bytes": stored,
        "linear_weight_reference_bytes": 4 * weights,
        "linear_weight_bits": round(8 * stored / weights, 4),
    }


class _PackedScriptObject:
    """Stands in for ``torch.ScriptObject`` while a payload is decoded.

    A quantized GRU/LSTM's state_dict holds TorchScript objects (packed weights). Unpickling a real
    ``torch.ScriptObject`` runs the ``__setstate__`` of whichever registered C++ class the bytes
    name; this placeholder only keeps the state, so decoding executes nothing the payload chose.
    """

    def __setstate__(self, state: object) -> None:
        self.state = state


def _torch_save_state(payload: bytes) -> object:
    """Decode a ``torch.save`` payload with ``weights_only=True``: tensors, containers and the
    handful of types torch allow-lists; a pickle that names anything else is refused, never run."""
    import io
    import pickle
    import warnings

    def load() -> object:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)

    with warnings.catch_warnings():
        # Unpickling torch.ao's packed int8 weights goes through torch's own deprecated
        # TypedStorage path; nothing a user can act on.
        warnings.filterwarnings("ignore", message=r"TypedStorage is deprecated")
        try:
            return load()
        except pickle.UnpicklingError as exc:
            safe = getattr(torch.serialization, "safe_globals", None)
            if safe is None or "torch.ScriptObject" not in str(exc):
                raise
        # Only the ScriptObject global gets a stand-in (torch >= 2.6 maps a name to it); every
        # other global stays refused.
        with safe([(_PackedScriptObject, "torch.ScriptObject")]):
            return load()


def _payload_sizes(payload: bytes) -> dict[str, int] | None:
    """Bytes per stored name of a safetensors or ``torch.save`` payload; ``None`` for anything else."""
    from pytest_compress.serialize import safetensors_header

    try:
        if payload[8:9] == b"{":  # safetensors: 8-byte header length, then a JSON header
            header = safetensors_header(payload)
            offsets = {k: v["data_offsets"] for k, v in header.items() if k != "__metadata__"}
            return {k: int(end) - int(start) for k, (start, end) in offsets.items()}
        state = _torch_save_state(payload)
    except Exception:  # empty, ONNX, damaged or a refused pickle: no breakdown, never a crash
        return None
    if not isinstance(state, dict):
        return None
    return {str(k): _tensor_bytes(v) for k, v in state.items()}
