"""Weight-only integer quantization of Linear layers, as done for LLMs: int8 per output channel,
int4 per group of ``group_size`` input weights.

torchao does the quantization and runs the result (``IntxWeightOnlyConfig``: affine min/max
scales per channel or per group, ``IntxUnpackedToInt8Tensor`` weights that dequantize inside each
matmul). In memory torchao keeps int4 codes one per int8 byte, and on this CPU dequantize-then-
matmul is *slower* than float32 — weight-only quantization buys size here, not speed (torchao's
packed int4 kernels need CUDA or the ``mslk`` package; aten's CPU int4 matmul is far slower than
float32 on this AVX2 machine: ``python bench/lm_quant.py`` measures the ratio). The report's
latency column shows what it costs.

The *shipped* bytes are written here, because no installed library writes packed int4 to a file:
``pytest-compress/weight-only-v1``, a safetensors file in which every quantized weight ``W`` is

- ``W::codes``: the integer codes minus ``quant_min`` (so 0..2**bits-1), bit-packed little-endian
  (:func:`pytest_compress.serialize.pack_codes`: two int4 codes per byte, low nibble first),
- ``W::scale``: one scale per group (torchao's dtype: float16 here by default),
- ``W::zero_point``: one zero point per group, bit-packed like the codes when every zero point
  fits the code range, else int8; omitted for symmetric quantization (all zero),

with shapes, bits, block size and quant range in the header metadata; every other tensor (the
float head, norms, embeddings) is stored as it is. :func:`decode_weight_only` reverses it with
torchao's own ``dequantize_affine``, so a test can check the file holds exactly the weights the
module runs with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.serialize import pack_codes, safetensors_metadata, unpack_codes
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method

WEIGHT_ONLY_FORMAT = "pytest-compress/weight-only-v1"
_SCALE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass(frozen=True)
class Int8WeightOnlyConfig(MethodConfig):
    """int8 codes, one symmetric scale per output channel."""

    scale_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.scale_dtype not in _SCALE_DTYPES:
            raise ValueError(f"int8-weight-only: scale_dtype must be one of {sorted(_SCALE_DTYPES)}")


@dataclass(frozen=True)
class Int4WeightOnlyConfig(MethodConfig):
    """int4 codes, one scale (and zero point unless symmetric) per group of input weights."""

    label_fields = ("group_size",)
    group_size: int = 128
    symmetric: bool = False
    scale_dtype: str = "float16"

    def __post_init__(self) -> None:
        if self.group_size not in (16, 32, 64, 128, 256):
            raise ValueError(f"int4-weight-only: group_size must be one of 16/32/64/128/256, got {self.group_size}")
        if self.scale_dtype not in _SCALE_DTYPES:
            raise ValueError(f"int4-weight-only: scale_dtype must be one of {sorted(_SCALE_DTYPES)}")


def quantizable_linears(model: nn.Module, keep_float: tuple[str, ...], group_size: int | None) -> list[str]:
    """Qualified names of the plain nn.Linear layers to quantize (not kept float, divisible into groups)."""
    return [
        name
        for name, m in model.named_modules()
        if type(m) is nn.Linear and name not in keep_float and (group_size is None or m.in_features % group_size == 0)
    ]


def quantize_weights(
    model: nn.Module,
    *,
    bits: int,
    group_size: int | None,
    symmetric: bool,
    scale_dtype: str,
    keep_float: tuple[str, ...],
) -> list[str]:
    """Quantize the chosen Linear weights in place with torchao; returns their names."""
    from torchao.quantization import IntxWeightOnlyConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup
    from torchao.quantization.quant_primitives import MappingType

    names = quantizable_linears(model, keep_float, group_size)
    if not names:
        raise NotApplicable(f"no nn.Linear layer to quantize (group size {group_size}, kept float: {keep_float})")
    config = IntxWeightOnlyConfig(
        weight_dtype=torch.int4 if bits == 4 else torch.int8,
        granularity=PerGroup(group_size) if group_size else PerAxis(0),
        mapping_type=MappingType.SYMMETRIC if symmetric else MappingType.ASYMMETRIC,
        scale_dtype=_SCALE_DTYPES[scale_dtype],
    )
    chosen = set(names)
    quantize_(model, config, filter_fn=lambda m, fqn: fqn in chosen)
    return names


def _is_quantized(t: torch.Tensor) -> bool:
    return hasattr(t, "qdata") and hasattr(t, "block_size") and hasattr(t, "target_dtype")


def _quant_range(target: torch.dtype) -> tuple[int, int, int]:
    bits = {torch.int4: 4, torch.int8: 8}.get(target)
    if bits is None:
        raise ValueError(f"weight-only-v1 encodes int4/int8 codes, not {target}")
    return bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def encode_weight_only(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    entries: dict[str, dict] = {}
    for name, t in state.items():
        if not _is_quantized(t):
            tensors[name] = t.detach().cpu().contiguous().clone()
            continue
        bits, qmin, qmax = _quant_range(t.target_dtype)
        q = t.qdata.to(torch.int64)
        tensors[f"{name}::codes"] = pack_codes(q - qmin, bits)
        tensors[f"{name}::scale"] = t.scale.detach().contiguous().clone()
        zp = t.zero_point.to(torch.int64)
        zp_bits = 0  # 0: no zero points (symmetric)
        if zp.any():
            if int(zp.min()) >= qmin and int(zp.max()) <= qmax:
                zp_bits = bits
                tensors[f"{name}::zero_point"] = pack_codes(zp - qmin, bits)
            else:
                zp_bits = 8
                tensors[f"{name}::zero_point"] = t.zero_point.to(torch.int8).contiguous().clone()
        entries[name] = {
            "shape": list(q.shape),
            "bits": bits,
            "quant_min": qmin,
            "quant_max": qmax,
            "block_size": list(t.block_size),
            "scale_shape": list(t.scale.shape),
            "zero_point_bits": zp_bits,
        }
    meta = {"pytest-compress": json.dumps({"format": WEIGHT_ONLY_FORMAT, "quantized": entries}, sort_keys=True)}
    return save(tensors, metadata=meta)


def decode_weight_only(payload: bytes) -> dict[str, torch.Tensor]:
    """The float state dict a weight-only-v1 file describes (quantized weights dequantized)."""
    from safetensors.torch import load
    from torchao.quantization.quant_primitives import dequantize_affine

    meta = json.loads(safetensors_metadata(payload).get("pytest-compress", "{}"))
    if meta.get("format") != WEIGHT_ONLY_FORMAT:
        raise ValueError(f"not a {WEIGHT_ONLY_FORMAT} payload (format={meta.get('format')!r})")
    flat = load(payload)
    out = {k: v for k, v in flat.items() if "::" not in k}
    for name, e in meta["quantized"].items():
        count = int(torch.tensor(e["shape"]).prod())
        q = unpack_codes(flat[f"{name}::codes"], e["bits"], count).reshape(e["shape"]) + e["quant_min"]
        scale = flat[f"{name}::scale"]
        groups = scale.numel()
        if e["zero_point_bits"] == 0:
            zp = torch.zeros(e["scale_shape"], dtype=torch.int8)
        elif e["zero_point_bits"] == e["bits"]:
            zp = unpack_codes(flat[f"{name}::zero_point"], e["bits"], groups) + e["quant_min"]
            zp = zp.reshape(e["scale_shape"])
        else:
            zp = flat[f"{name}::zero_point"]
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


def _artifact(model: nn.Module, names: list[str]) -> Artifact:
    # Linear bytes and bits per weight are counted by the runner from this payload, as for every
    # method (pytest_compress.measure.size.linear_weight_storage).
    kept = sorted({n for n, m in model.named_modules() if type(m) is nn.Linear} - set(names))
    return Artifact(
        module=model,
        payload=encode_weight_only(model.state_dict()),
        encoding=WEIGHT_ONLY_FORMAT,
        details={"quantized_linears": len(names), "float_linears": kept},
    )


@register_method("int8-weight-only", config=Int8WeightOnlyConfig)
def int8_weight_only(model: nn.Module, config: Int8WeightOnlyConfig, ctx: MethodContext) -> Artifact:
    """int8 Linear weights (per-channel symmetric, torchao); activations stay float."""
    names = quantize_weights(
        model, bits=8, group_size=None, symmetric=True, scale_dtype=config.scale_dtype, keep_float=ctx.keep_float
    )
    return _artifact(model, names)


@register_method("int4-weight-only", config=Int4WeightOnlyConfig)
def int4_weight_only(model: nn.Module, config: Int4WeightOnlyConfig, ctx: MethodContext) -> Artifact:
    """int4 Linear weights per group (torchao), shipped two codes per byte."""
    names = quantize_weights(
        model,
        bits=4,
        group_size=config.group_size,
        symmetric=config.symmetric,
        scale_dtype=config.scale_dtype,
        keep_float=ctx.keep_float,
    )
    return _artifact(model, names)
