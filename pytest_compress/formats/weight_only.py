"""``pytest-compress/weight-only-v1``: packed int4/int8 weights, written here because no installed
library writes packed int4 to a file.

A safetensors file (:mod:`pytest_compress.formats.container`) in which every weight that torchao
quantized (an ``IntxUnpackedToInt8Tensor``: ``qdata``, ``scale``, ``zero_point``, ``block_size``)
is stored as

- ``W::codes``: the integer codes minus ``quant_min`` (so 0..2**bits-1), bit-packed little-endian
  (:func:`~pytest_compress.formats.container.pack_codes`: two int4 codes per byte, low nibble first),
- ``W::scale``: one scale per group (torchao's dtype: float16 here by default),
- ``W::zero_point``: one zero point per group, bit-packed like the codes when every zero point
  fits the code range, else int8; omitted for symmetric quantization (all zero),

with shapes, bits, block size and quant range in the metadata (``quantized``); every other tensor
(the float head, norms, embeddings) is stored as it is. ``decode`` dequantizes with torchao's own
``dequantize_affine``: the float weights the quantized module computes with.

The second encoding, ``... (packed base + float32 LoRA adapters)``, is the same file holding a
peft-wrapped model (``quantize-lora``): the packed base weight of a layer ``L`` under
``L.base_layer.weight``, its adapters (``L.lora_A``, ``L.lora_B``: peft names them ``lora_*``) as
float32. The adapters are not the layer's weight: its accounting leaves them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from pytest_compress.formats import WEIGHT_ONLY, WEIGHT_ONLY_LORA, Format, StoredTensor, register_format
from pytest_compress.formats.container import (
    PART,
    metadata,
    pack_codes,
    read_metadata,
    stored_parts,
    unpack_codes,
)


def is_quantized(t: object) -> bool:
    """A torchao weight-only quantized tensor (codes, scales, zero points, block size)."""
    return hasattr(t, "qdata") and hasattr(t, "block_size") and hasattr(t, "target_dtype")


def _quant_range(target: torch.dtype) -> tuple[int, int, int]:
    bits = {torch.int4: 4, torch.int8: 8}.get(target)
    if bits is None:
        raise ValueError(f"weight-only-v1 encodes int4/int8 codes, not {target}")
    return bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


class WeightOnlyFormat(Format):
    encoding = WEIGHT_ONLY

    def encode(self, state: Mapping[str, Any]) -> bytes:
        from safetensors.torch import save

        tensors: dict[str, torch.Tensor] = {}
        entries: dict[str, dict] = {}
        for name, t in state.items():
            if not is_quantized(t):
                tensors[name] = t.detach().cpu().contiguous().clone()
                continue
            bits, qmin, qmax = _quant_range(t.target_dtype)
            q = t.qdata.to(torch.int64)
            tensors[f"{name}{PART}codes"] = pack_codes(q - qmin, bits)
            tensors[f"{name}{PART}scale"] = t.scale.detach().contiguous().clone()
            zp = t.zero_point.to(torch.int64)
            zp_bits = 0  # 0: no zero points (symmetric)
            if zp.any():
                if int(zp.min()) >= qmin and int(zp.max()) <= qmax:
                    zp_bits = bits
                    tensors[f"{name}{PART}zero_point"] = pack_codes(zp - qmin, bits)
                else:
                    zp_bits = 8
                    tensors[f"{name}{PART}zero_point"] = t.zero_point.to(torch.int8).contiguous().clone()
            entries[name] = {
                "shape": list(q.shape),
                "bits": bits,
                "quant_min": qmin,
                "quant_max": qmax,
                "block_size": list(t.block_size),
                "scale_shape": list(t.scale.shape),
                "zero_point_bits": zp_bits,
            }
        return save(tensors, metadata=metadata(format=WEIGHT_ONLY, quantized=entries))

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        """The float state dict the file describes (quantized weights dequantized)."""
        from safetensors.torch import load
        from torchao.quantization.quant_primitives import dequantize_affine

        quantized = read_metadata(payload, WEIGHT_ONLY)["quantized"]
        flat = load(payload)
        out = {k: v for k, v in flat.items() if PART not in k}
        for name, e in quantized.items():
            count = int(torch.tensor(e["shape"]).prod())
            q = unpack_codes(flat[f"{name}{PART}codes"], e["bits"], count).reshape(e["shape"]) + e["quant_min"]
            scale = flat[f"{name}{PART}scale"]
            groups = scale.numel()
            if e["zero_point_bits"] == 0:
                zp = torch.zeros(e["scale_shape"], dtype=torch.int8)
            elif e["zero_point_bits"] == e["bits"]:
                zp = unpack_codes(flat[f"{name}{PART}zero_point"], e["bits"], groups) + e["quant_min"]
                zp = zp.reshape(e["scale_shape"])
            else:
                zp = flat[f"{name}{PART}zero_point"]
            out[name] = dequantize_affine(
                q.to(torch.int8),
                tuple(e["block_size"]),
                scale,
                zp.to(torch.int8),
                torch.int8,
                e["quant_min"],
                e["quant_max"],
                output_dtype=torch.float32,
            )
        return out

    def stored(self, payload: bytes) -> dict[str, StoredTensor]:
        quantized = read_metadata(payload, WEIGHT_ONLY)["quantized"]
        return stored_parts(payload, {name: e["shape"] for name, e in quantized.items()})


class WeightOnlyLoraFormat(WeightOnlyFormat):
    """The weight-only file of a peft-wrapped model: packed base weights plus float32 adapters."""

    encoding = WEIGHT_ONLY_LORA

    def counts_as_weight(self, name: str, tensor: StoredTensor) -> bool:
        return not name.startswith("lora_") and super().counts_as_weight(name, tensor)


WEIGHT_ONLY_FORMAT = register_format(WeightOnlyFormat())
WEIGHT_ONLY_LORA_FORMAT = register_format(WeightOnlyLoraFormat())
encode_weight_only = WEIGHT_ONLY_FORMAT.encode
decode_weight_only = WEIGHT_ONLY_FORMAT.decode
