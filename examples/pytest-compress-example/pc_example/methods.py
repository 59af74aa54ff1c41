"""The ``zero-small`` method. It imports torch at the top on purpose: pytest-compress imports this
module only when a case uses ``zero-small``, so ``pytest --help`` stays torch-free."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import pytest_compress as pc


@dataclass(frozen=True)
class ZeroSmallConfig(pc.MethodConfig):
    threshold: float = 0.01

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError(f"zero-small: threshold must be >= 0, got {self.threshold}")


@pc.register_method("zero-small", config=ZeroSmallConfig)
def zero_small(model: torch.nn.Module, config: ZeroSmallConfig, ctx: pc.MethodContext) -> torch.nn.Module:
    """Zeroes every weight whose magnitude is below the threshold."""
    with torch.no_grad():
        for p in model.parameters():
            p.masked_fill_(p.abs() < config.threshold, 0.0)
    return model
