"""Reduced-precision storage: float16 weights.

The artifact stores every floating-point tensor as float16 (half the bytes). What runs is a
choice, because on this AVX2-only CPU float16 *compute* is many times slower than float32:
``compute="fp32"`` (default) upcasts the stored weights at load — the deployment that makes
sense on such a CPU, with fp16 rounding in the weights and fp32 speed; ``compute="fp16"``
runs the model in half precision so the report shows that slowdown for what it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.serialize import dense_state_payload
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, register_method


@dataclass(frozen=True)
class Fp16Config(MethodConfig):
    label_fields = ("compute",)
    compute: str = "fp32"

    def __post_init__(self) -> None:
        if self.compute not in ("fp32", "fp16"):
            raise ValueError(f"fp16: compute must be 'fp32' or 'fp16', got {self.compute!r}")


class _HalfInputs(nn.Module):
    """Runs a half-precision model on float32 inputs and returns float32 outputs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.half()).float()


@register_method("fp16", config=Fp16Config)
def fp16(model: nn.Module, config: Fp16Config, ctx: MethodContext) -> Artifact:
    """Weights stored as float16; upcast at load (default) or run in float16."""
    stored = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = dense_state_payload(stored)
    if config.compute == "fp16":
        module: nn.Module = _HalfInputs(model.half())
    else:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in stored.items()})
        module = model
    return Artifact(
        module=module,
        payload=payload,
        encoding="torch.save(state_dict), float16 tensors",
        details={"compute": config.compute},
    )
