"""Weight-only integer quantization of Linear layers, as done for LLMs: int8 per output channel,
int4 per group of ``group_size`` input weights.

torchao does the quantization and runs the result (``IntxWeightOnlyConfig``: affine min/max
scales per channel or per group, ``IntxUnpackedToInt8Tensor`` weights that dequantize inside each
matmul). In memory torchao keeps int4 codes one per int8 byte, and on this CPU dequantize-then-
matmul is *slower* than float32 — weight-only quantization buys size here, not speed (torchao's
packed int4 kernels need CUDA or the ``mslk`` package; aten's CPU int4 matmul is far slower than
float32 on this AVX2 machine: ``python bench/lm_quant.py`` measures the ratio). The report's
latency column shows what it costs.

The *shipped* bytes are ``pytest-compress/weight-only-v1``
(:mod:`pytest_compress.formats.weight_only`: bit-packed codes, per-group scales and zero points),
written there because no installed library writes packed int4 to a file; its ``decode`` gives
back the float weights the module runs with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.formats import WEIGHT_ONLY
from pytest_compress.formats.weight_only import WEIGHT_ONLY_FORMAT
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method

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


def _artifact(model: nn.Module, names: list[str]) -> Artifact:
    # Linear bytes and bits per weight are the format's accounting, asked by the runner as for
    # every method (pytest_compress.measure.size.linear_weight_storage).
    kept = sorted({n for n, m in model.named_modules() if type(m) is nn.Linear} - set(names))
    return Artifact(
        module=model,
        payload=WEIGHT_ONLY_FORMAT.encode(model.state_dict()),
        encoding=WEIGHT_ONLY,
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
