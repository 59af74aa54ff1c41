"""``pytest-compress/sparse-bitmap-v1``: the format pruned models ship as.

A safetensors file (:mod:`pytest_compress.formats.container`) in which every floating-point
tensor that gets smaller this way is stored as its non-zero values (original dtype, row-major
order, ``W::values``) plus a bitmap of ``ceil(numel / 8)`` bytes (``W::bitmap``: 1 = non-zero,
little-endian bit order, ``numpy.packbits(..., bitorder="little")``); every other tensor is
stored dense. The shapes of the encoded tensors live in the metadata (``encoded``). ``decode``
reverses it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from pytest_compress.formats import SPARSE_BITMAP, Format, StoredTensor, register_format
from pytest_compress.formats.container import PART, metadata, read_metadata, stored_parts


class SparseBitmapFormat(Format):
    encoding = SPARSE_BITMAP

    def encode(self, state: Mapping[str, Any]) -> bytes:
        tensors: dict[str, torch.Tensor] = {}
        encoded: dict[str, list[int]] = {}
        for name, t in state.items():
            t = t.detach().cpu().contiguous()
            if t.is_floating_point() and t.numel() > 0:
                mask = t != 0
                nnz = int(mask.sum())
                sparse_bytes = nnz * t.element_size() + (t.numel() + 7) // 8
                if sparse_bytes < t.numel() * t.element_size():
                    bits = np.packbits(mask.flatten().numpy(), bitorder="little")
                    tensors[f"{name}{PART}values"] = t.flatten()[mask.flatten()].clone()
                    tensors[f"{name}{PART}bitmap"] = torch.from_numpy(bits.copy())
                    encoded[name] = list(t.shape)
                    continue
            tensors[name] = t.clone()
        return st_save(tensors, metadata=metadata(format=SPARSE_BITMAP, encoded=encoded))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        encoded = read_metadata(payload, SPARSE_BITMAP)["encoded"]
        flat = st_load(payload)
        out: dict[str, torch.Tensor] = {name: t for name, t in flat.items() if PART not in name}
        for name, shape in encoded.items():
            values, bits = flat[f"{name}{PART}values"], flat[f"{name}{PART}bitmap"]
            numel = int(np.prod(shape)) if shape else 1
            mask = torch.from_numpy(np.unpackbits(bits.numpy(), count=numel, bitorder="little").astype(bool))
            dense = torch.zeros(numel, dtype=values.dtype)
            dense[mask] = values
            out[name] = dense.reshape(shape)
        return out

    def stored(self, payload: bytes) -> dict[str, StoredTensor]:
        return stored_parts(payload, read_metadata(payload, SPARSE_BITMAP)["encoded"])


SPARSE_BITMAP_FORMAT = register_format(SparseBitmapFormat())
encode_sparse = SPARSE_BITMAP_FORMAT.encode
decode_sparse = SPARSE_BITMAP_FORMAT.decode
