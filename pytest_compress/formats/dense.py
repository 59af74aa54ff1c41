"""``torch.save(state_dict)``: what a PyTorch user ships, and what every method that returns a
plain module is shipped as.

One format, four registered encodings:

- ``torch.save(state_dict)`` — the module's own state dict. That covers more than float
  tensors: a structurally pruned model (smaller tensors), a low-rank factorised one (a Linear
  ``L`` became ``L.0`` and ``L.1``), a distilled student, and torch.ao's quantized modules,
  whose packed int8 weights and scales it stores as int8 (:mod:`pytest_compress.formats.torchao`);
- ``torch.save(state_dict), float16 tensors`` / ``bfloat16 tensors`` — every floating-point
  tensor cast to that dtype before saving;
- ``torch.save(state_dict) of the PT2E graph`` — a converted PT2E graph's state dict (int8
  weights as plain attributes).

The accounting needs no names: a layer's weight is every stored tensor of 2+ dimensions under
the layer's name (``L.weight``; ``L.0.weight`` + ``L.1.weight``; the weight of
``L._packed_params._packed_params``). Reading never runs the payload's code.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pytest_compress.formats import BF16, DENSE, FP16, PT2E, Format, StoredTensor, register_format
from pytest_compress.formats import torchao as packed


class DenseFormat(Format):
    """``torch.save`` of a state dict; with ``dtype``, floating-point tensors are cast to it first."""

    def __init__(self, encoding: str, dtype: torch.dtype | None = None) -> None:
        self.encoding = encoding
        self.dtype = dtype

    def encode(self, state: Mapping[str, Any]) -> bytes:
        if self.dtype is not None:
            state = {k: (v.to(self.dtype) if v.is_floating_point() else v) for k, v in state.items()}
        buf = io.BytesIO()
        torch.save(state, buf)  # the mapping as given: a state_dict's OrderedDict pickles as one
        return buf.getvalue()

    def decode(self, payload: bytes) -> dict[str, Any]:
        """The state dict as saved, torch.ao's packed objects rebuilt (only torch's own classes)."""
        return packed.rebuild(packed.load(payload))

    def stored(self, payload: bytes) -> dict[str, StoredTensor]:
        out = {}
        for name, value in packed.load(payload).items():
            t = packed.stored_tensor(value)
            if t is not None:
                out[str(name)] = t
        return out


def dense_payload(module: nn.Module) -> bytes:
    """``torch.save(module.state_dict())``: the bytes a plain module ships as."""
    return DENSE_FORMAT.encode(module.state_dict())


DENSE_FORMAT = register_format(DenseFormat(DENSE))
FP16_FORMAT = register_format(DenseFormat(FP16, torch.float16))
BF16_FORMAT = register_format(DenseFormat(BF16, torch.bfloat16))
PT2E_FORMAT = register_format(DenseFormat(PT2E))
