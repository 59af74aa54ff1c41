"""Reduced-precision storage: float16 or bfloat16 weights.

The artifact stores every floating-point tensor as float16 (``fp16``) or bfloat16 (``bf16``):
half the bytes. What runs is a choice, because on this AVX2-only CPU 16-bit *compute* is many
times slower than float32: ``compute="fp32"`` (default) upcasts the stored weights at load —
the deployment that makes sense on such a CPU, with the 16-bit rounding in the weights and fp32
speed; ``compute="fp16"`` / ``"bf16"`` runs the model in that precision so the report shows the
slowdown for what it is. bfloat16 keeps float32's exponent range with 8 bits of mantissa
(float16: 11), so it rounds weights ~8x more coarsely.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.formats.dense import BF16_FORMAT, FP16_FORMAT
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, register_method


@dataclass(frozen=True)
class Fp16Config(MethodConfig):
    label_fields = ("compute",)
    compute: str = "fp32"

    def __post_init__(self) -> None:
        if self.compute not in ("fp32", "fp16"):
            raise ValueError(f"fp16: compute must be 'fp32' or 'fp16', got {self.compute!r}")


@dataclass(frozen=True)
class Bf16Config(MethodConfig):
    label_fields = ("compute",)
    compute: str = "fp32"

    def __post_init__(self) -> None:
        if self.compute not in ("fp32", "bf16"):
            raise ValueError(f"bf16: compute must be 'fp32' or 'bf16', got {self.compute!r}")


class _LowPrecisionInputs(nn.Module):
    """Runs a 16-bit model: floating-point inputs are cast in, outputs cast back to float32.
    Integer inputs (token ids) pass through unchanged."""

    def __init__(self, inner: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner = inner
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.to(self.dtype) if x.is_floating_point() else x).float()

    def __getattr__(self, name: str):  # noqa: ANN204  (model helpers, e.g. generate_greedy)
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)


def _reduced(model: nn.Module, dtype: torch.dtype, compute_native: bool, compute: str) -> Artifact:
    fmt = {torch.float16: FP16_FORMAT, torch.bfloat16: BF16_FORMAT}[dtype]
    stored = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = fmt.encode(stored)
    if compute_native:
        module: nn.Module = _LowPrecisionInputs(model.to(dtype), dtype)
    else:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in stored.items()})
        module = model
    return Artifact(
        module=module,
        payload=payload,
        encoding=fmt.encoding,
        details={"compute": compute},
    )


@register_method("fp16", config=Fp16Config)
def fp16(model: nn.Module, config: Fp16Config, ctx: MethodContext) -> Artifact:
    """Weights stored as float16; upcast at load (default) or run in float16."""
    return _reduced(model, torch.float16, config.compute == "fp16", config.compute)


@register_method("bf16", config=Bf16Config)
def bf16(model: nn.Module, config: Bf16Config, ctx: MethodContext) -> Artifact:
    """Weights stored as bfloat16; upcast at load (default) or run in bfloat16."""
    return _reduced(model, torch.bfloat16, config.compute == "bf16", config.compute)
