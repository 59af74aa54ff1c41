"""The bytes a compressed model ships as.

- ``dense``: ``torch.save(state_dict)`` — what a PyTorch user ships; quantized modules store
  their packed int8 weights and scales in it, so int8 is counted as int8.
- ``sparse-bitmap-v1``: for pruned models. A safetensors file in which every floating-point
  tensor that gets smaller this way is stored as its non-zero values (original dtype, row-major
  order) plus a bitmap of ``ceil(numel / 8)`` bytes (1 = non-zero, little-endian bit order,
  ``numpy.packbits(..., bitorder="little")``); every other tensor is stored dense. Shapes and the
  list of encoded tensors live in the header metadata. ``decode_sparse`` reverses it exactly.
"""

from __future__ import annotations

import io
import json

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

SPARSE_FORMAT = "pytest-compress/sparse-bitmap-v1"


def dense_payload(module: nn.Module) -> bytes:
    return dense_state_payload(module.state_dict())


def dense_state_payload(state: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def encode_sparse(state_dict: dict[str, torch.Tensor]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    encoded: dict[str, list[int]] = {}
    for name, t in state_dict.items():
        t = t.detach().cpu().contiguous()
        if t.is_floating_point() and t.numel() > 0:
            mask = t != 0
            nnz = int(mask.sum())
            sparse_bytes = nnz * t.element_size() + (t.numel() + 7) // 8
            if sparse_bytes < t.numel() * t.element_size():
                bits = np.packbits(mask.flatten().numpy(), bitorder="little")
                tensors[f"{name}::values"] = t.flatten()[mask.flatten()].clone()
                tensors[f"{name}::bitmap"] = torch.from_numpy(bits.copy())
                encoded[name] = list(t.shape)
                continue
        tensors[name] = t.clone()
    # One metadata key only: safetensors writes metadata from a hash map, so with several keys
    # their order (and the file's bytes) changes from call to call; identical artifacts must
    # have identical bytes.
    meta = {"pytest-compress": json.dumps({"format": SPARSE_FORMAT, "encoded": encoded}, sort_keys=True)}
    return st_save(tensors, metadata=meta)


def decode_sparse(payload: bytes) -> dict[str, torch.Tensor]:

    meta = json.loads(safetensors_metadata(payload).get("pytest-compress", "{}"))
    if meta.get("format") != SPARSE_FORMAT:
        raise ValueError(f"not a {SPARSE_FORMAT} payload (format={meta.get('format')!r})")
    encoded = meta["encoded"]
    flat = st_load(payload)
    out: dict[str, torch.Tensor] = {}
    for name, t in flat.items():
        if "::" not in name:
            out[name] = t
    for name, shape in encoded.items():
        values, bits = flat[f"{name}::values"], flat[f"{name}::bitmap"]
        numel = int(np.prod(shape)) if shape else 1
        mask = torch.from_numpy(np.unpackbits(bits.numpy(), count=numel, bitorder="little").astype(bool))
        dense = torch.zeros(numel, dtype=values.dtype)
        dense[mask] = values
        out[name] = dense.reshape(shape)
    return out


def safetensors_header(payload: bytes) -> dict:
    """The JSON header of a safetensors file: per tensor dtype, shape and byte offsets."""
    # safetensors layout: 8-byte little-endian header length, then a JSON header.
    n = int.from_bytes(payload[:8], "little")
    return json.loads(payload[8 : 8 + n])


def safetensors_metadata(payload: bytes) -> dict[str, str]:
    return safetensors_header(payload).get("__metadata__", {})


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer codes in [0, 2**bits) into a little-endian bit stream of uint8: code i takes
    bits [i * bits, (i + 1) * bits). For 4-bit codes that is two per byte, low nibble first."""
    flat = codes.flatten().to(torch.int64)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 2**bits):
        raise ValueError(f"codes out of range for {bits} bits")
    bitplanes = ((flat[:, None] >> torch.arange(bits)) & 1).to(torch.uint8).flatten().numpy()
    return torch.from_numpy(np.packbits(bitplanes, bitorder="little").copy())


def unpack_codes(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    planes = np.unpackbits(packed.numpy(), count=count * bits, bitorder="little").reshape(count, bits)
    return torch.from_numpy((planes.astype(np.int64) << np.arange(bits)).sum(axis=1))
