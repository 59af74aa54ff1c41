"""Parameter and non-zero counts that also see inside quantized modules' packed weights, and the
Linear-weight storage of a payload (which its format accounts for)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from pytest_compress.formats import FormatError, get_format
from pytest_compress.results import StorageResult


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


def left_out_weights(model: nn.Module, handled: Iterable[torch.Tensor]) -> list[str]:
    """``"name (Type, N weights)"`` for every weight tensor of ``model`` (2+ dimensions, as
    :func:`count_weights` counts) that is not one of ``handled``: what a method's report must say
    it left alone (a GRU's gate matrices, an embedding, a layer kept in float)."""
    done = {id(t) for t in handled}
    out, seen = [], set()
    for prefix, m in model.named_modules():
        for n, p in m.named_parameters(recurse=False):
            if p.dim() < 2 or id(p) in done or id(p) in seen:
                continue
            seen.add(id(p))
            out.append(f"{prefix + '.' if prefix else ''}{n} ({type(m).__name__}, {p.numel()} weights)")
    return out


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


def linear_weight_storage(
    reference: nn.Module, payload: bytes, encoding: str, keep_float: tuple[str, ...] = ()
) -> StorageResult | None:
    """Bytes the shipped payload spends on the reference's Linear weights, and bits per weight.

    The payload's format (registered under ``encoding``, :mod:`pytest_compress.formats`) says
    what each ``nn.Linear`` of the reference (except ``keep_float``) costs in it — this module
    knows no method's file layout. Bits per weight divide by the *reference's* weight count, so
    structured pruning and low rank show their saving. ``None`` when no format is registered
    for ``encoding``, the format finds no weight for some layer (a compiled graph, another
    model) or the payload is not readable as that format (empty, damaged, a pickle that would
    run code): no guessing.
    """
    names = [n for n, m in reference.named_modules() if type(m) is nn.Linear and n not in keep_float]
    fmt = get_format(encoding)
    if not names or fmt is None:
        return None
    try:
        per_layer = fmt.linear_weight_bytes(payload, names)
    except FormatError:
        return None
    if per_layer is None:
        return None
    weights = sum(reference.get_submodule(n).weight.numel() for n in names)
    stored = sum(per_layer.values())
    return StorageResult(
        linear_weight_bytes=stored,
        linear_weight_reference_bytes=4 * weights,
        bits_per_weight=round(8 * stored / weights, 4),
    )
