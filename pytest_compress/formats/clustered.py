"""``pytest-compress/clustered-v1``: weight sharing, a codebook and one packed index per value.

A safetensors file (:mod:`pytest_compress.formats.container`) holding, per clustered tensor
``W``, its codebook (``W::codebook``: the shared float32 values) and its indices packed at
``bits`` bits each (``W::codes``, :func:`~pytest_compress.formats.container.pack_codes`:
little-endian within each byte, row-major order); other tensors are stored dense. Shapes and
bits live in the metadata (``clustered``). ``decode`` gives back ``codebook[codes]``: the dense
float32 weights the clustered model runs with.

``encode`` takes a state dict whose clustered entries are :class:`Clustered` values (the
codebook and codes a method chose), every other entry a tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from pytest_compress.formats import CLUSTERED, Format, StoredTensor, register_format
from pytest_compress.formats.container import (
    PART,
    metadata,
    pack_codes,
    read_metadata,
    stored_parts,
    unpack_codes,
)


@dataclass(frozen=True)
class Clustered:
    """A tensor of ``shape`` whose values are ``codebook[codes]``; each code stored in ``bits`` bits."""

    codebook: torch.Tensor  # the shared values (float32)
    codes: torch.Tensor  # one index into the codebook per value, row-major
    shape: tuple[int, ...]
    bits: int

    def values(self) -> torch.Tensor:
        return self.codebook[self.codes].reshape(self.shape)


def index_bits(clusters: int) -> int:
    """Bits per index for a codebook of ``clusters`` values."""
    return max(1, math.ceil(math.log2(clusters)))


class ClusteredFormat(Format):
    encoding = CLUSTERED

    def encode(self, state: Mapping[str, Any]) -> bytes:
        tensors: dict[str, torch.Tensor] = {}
        clustered: dict[str, dict[str, object]] = {}
        for name, t in state.items():
            if isinstance(t, Clustered):
                tensors[f"{name}{PART}codebook"] = t.codebook.contiguous()
                tensors[f"{name}{PART}codes"] = pack_codes(t.codes, t.bits)
                clustered[name] = {"shape": list(t.shape), "bits": t.bits}
            else:
                tensors[name] = t.detach().contiguous().clone()
        return st_save(tensors, metadata=metadata(format=CLUSTERED, clustered=clustered))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        clustered = read_metadata(payload, CLUSTERED)["clustered"]
        flat = st_load(payload)
        out = {name: t for name, t in flat.items() if PART not in name}
        for name, e in clustered.items():
            count = math.prod(e["shape"])
            codes = unpack_codes(flat[f"{name}{PART}codes"], e["bits"], count)
            out[name] = flat[f"{name}{PART}codebook"][codes].reshape(e["shape"])
        return out

    def stored(self, payload: bytes) -> dict[str, StoredTensor]:
        clustered = read_metadata(payload, CLUSTERED)["clustered"]
        return stored_parts(payload, {name: e["shape"] for name, e in clustered.items()})


CLUSTERED_FORMAT = register_format(ClusteredFormat())
