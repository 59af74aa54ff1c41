"""The bytes a compressed model ships as: the names this module has always offered.

The formats themselves — encode, decode and their accounting — live in
:mod:`pytest_compress.formats` (``dense``, ``sparse``, ``weight_only``, ``clustered``; torch.ao's
packed weights in ``torchao``). These names stay importable from here for code written against
them.
"""

from __future__ import annotations

import torch

from pytest_compress.formats import SPARSE_BITMAP as SPARSE_FORMAT
from pytest_compress.formats.container import pack_codes, safetensors_header, safetensors_metadata, unpack_codes
from pytest_compress.formats.dense import DENSE_FORMAT, dense_payload
from pytest_compress.formats.sparse import decode_sparse, encode_sparse

__all__ = [
    "SPARSE_FORMAT",
    "decode_sparse",
    "dense_payload",
    "dense_state_payload",
    "encode_sparse",
    "pack_codes",
    "safetensors_header",
    "safetensors_metadata",
    "unpack_codes",
]


def dense_state_payload(state: dict[str, torch.Tensor]) -> bytes:
    """``torch.save(state)``."""
    return DENSE_FORMAT.encode(state)
