"""The safetensors container the pytest-compress formats share, and bit packing of integer codes.

Every ``pytest-compress/*`` format is a safetensors file: a tensor ``W`` the format encodes is
stored as parts named ``W::<part>`` (values, bitmap, codes, scale, ...), every other tensor under
its own name, and one metadata key, ``"pytest-compress"``, holds a JSON object whose ``format``
names the format. One key only: safetensors writes metadata from a hash map, so with several
keys their order (and the file's bytes) changes from call to call; identical artifacts must have
identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from pytest_compress.formats import FormatError, StoredTensor

META_KEY = "pytest-compress"
PART = "::"  # W::codes, W::scale: the parts of one encoded tensor W


def safetensors_header(payload: bytes) -> dict:
    """The JSON header of a safetensors file: per tensor dtype, shape and byte offsets."""
    # safetensors layout: 8-byte little-endian header length, then a JSON header.
    n = int.from_bytes(payload[:8], "little")
    return json.loads(payload[8 : 8 + n])


def safetensors_metadata(payload: bytes) -> dict[str, str]:
    return safetensors_header(payload).get("__metadata__", {})


def metadata(**fields: Any) -> dict[str, str]:
    """The one metadata entry of a pytest-compress file (keys sorted: identical bytes each time)."""
    return {META_KEY: json.dumps(fields, sort_keys=True)}


def read_metadata(payload: bytes, fmt: str) -> dict[str, Any]:
    """The pytest-compress metadata of ``payload``; :class:`FormatError` unless it says ``fmt``."""
    try:
        meta = json.loads(safetensors_metadata(payload).get(META_KEY, "{}"))
    except (ValueError, AttributeError, TypeError) as exc:  # not safetensors, or a damaged header
        raise FormatError(f"not a {fmt} payload (no readable safetensors header)") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise FormatError(f"not a {fmt} payload (format={found!r})")
    return meta


def stored_parts(payload: bytes, shapes: Mapping[str, list[int]]) -> dict[str, StoredTensor]:
    """Per decoded tensor, the bytes of all its parts: ``W::*`` add up to ``W`` (whose shape is
    ``shapes[W]``, from the format's metadata); a tensor stored whole keeps its header shape."""
    out: dict[str, StoredTensor] = {}
    try:
        for key, info in safetensors_header(payload).items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            name = key.split(PART, 1)[0]
            shape = tuple(int(d) for d in (shapes[name] if PART in key else info["shape"]))
            before = out.get(name, StoredTensor(shape, 0)).nbytes
            out[name] = StoredTensor(shape, before + int(end) - int(start))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # a damaged header
        raise FormatError(f"unreadable safetensors header ({type(exc).__name__}: {exc})") from exc
    return out


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
