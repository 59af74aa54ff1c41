"""Parameter and non-zero counts that also see inside quantized modules' packed weights."""

from __future__ import annotations

import torch
from torch import nn


def _weights(module: nn.Module) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for m in module.modules():
        weight = getattr(m, "weight", None)
        if callable(weight) and not isinstance(weight, torch.Tensor):
            # torch.ao quantized modules keep weights packed; weight()/bias() unpack them.
            found.append(weight())
            bias = m.bias() if callable(getattr(m, "bias", None)) else None
            if bias is not None:
                found.append(bias)
        else:
            found.extend(p.detach() for p in m.parameters(recurse=False))
    return found


def _graph_weights(gm: torch.fx.GraphModule) -> list[torch.Tensor]:
    # A PT2E graph keeps int8 weights as plain attributes: count every tensor it stores except
    # the quantization parameters themselves.
    return [t for k, t in gm.state_dict().items() if "scale" not in k and "zero_point" not in k]


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(parameters, non-zero parameters) of a float, quantized or PT2E-compiled module."""
    inner = getattr(module, "_orig_mod", module)  # torch.compile wrapper
    weights = _graph_weights(inner) if isinstance(inner, torch.fx.GraphModule) else _weights(inner)
    total = nonzero = 0
    with torch.no_grad():
        for w in weights:
            # torch.ao quantized tensors and torchao tensor subclasses both know their float values.
            subclass = type(w) not in (torch.Tensor, nn.Parameter) and hasattr(w, "dequantize")
            values = w.dequantize() if w.is_quantized or subclass else w
            total += values.numel()
            nonzero += int(torch.count_nonzero(values))
    return total, nonzero
