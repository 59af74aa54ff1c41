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


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(parameters, non-zero parameters) of a float or quantized module."""
    total = nonzero = 0
    with torch.no_grad():
        for w in _weights(module):
            values = w.dequantize() if w.is_quantized else w
            total += values.numel()
            nonzero += int(torch.count_nonzero(values))
    return total, nonzero
