"""Low-rank factorisation: each chosen Linear W (out x in) becomes B @ A via truncated SVD.

``W ~ U_r S_r V_r^T`` -> ``Linear(in, r, bias=False)`` with weight ``sqrt(S_r) V_r^T`` followed by
``Linear(r, out)`` with weight ``U_r sqrt(S_r)`` and the original bias. A layer is only replaced
when the factorised form has fewer parameters (``r * (in + out) < in * out``); the rank comes
from ``rank_fraction`` of ``min(in, out)`` or, if given, the smallest rank keeping ``energy`` of
the squared singular values. Layers the model keeps in float (``ModelSpec.keep_float``) are left
alone, as are conv layers (their im2col factorisation rarely pays
on small kernels); the report's parameter counts show exactly what changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.formats import DENSE
from pytest_compress.formats.dense import dense_payload
from pytest_compress.measure.size import left_out_weights
from pytest_compress.results import CoverageResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, register_method


@dataclass(frozen=True)
class LowRankConfig(MethodConfig):
    label_fields = ("rank_fraction",)
    rank_fraction: float = 0.25
    energy: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.rank_fraction <= 1:
            raise ValueError(f"lowrank: rank_fraction must be in (0, 1], got {self.rank_fraction}")
        if self.energy is not None and not 0 < self.energy <= 1:
            raise ValueError(f"lowrank: energy must be in (0, 1], got {self.energy}")


def factorize(layer: nn.Linear, rank: int) -> nn.Sequential:
    w = layer.weight.detach()
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    root = s[:rank].sqrt()
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_(root[:, None] * vh[:rank])
        second.weight.copy_(u[:, :rank] * root[None, :])
        if layer.bias is not None:
            second.bias.copy_(layer.bias)
    return nn.Sequential(first, second)


def choose_rank(weight: torch.Tensor, config: LowRankConfig) -> int:
    full = min(weight.shape)
    if config.energy is not None:
        s2 = torch.linalg.svdvals(weight.detach()) ** 2
        cum = torch.cumsum(s2, 0) / s2.sum()
        return int(torch.searchsorted(cum, torch.tensor(config.energy)).item()) + 1
    return max(1, math.ceil(config.rank_fraction * full))


@register_method("lowrank", config=LowRankConfig)
def lowrank(model: nn.Module, config: LowRankConfig, ctx: MethodContext) -> Artifact:
    """Truncated-SVD factorisation of Linear layers where it saves parameters; every other weight
    tensor (a Conv, a GRU's gates, a Linear that would not shrink) is named in ``left_out``."""
    chosen = []
    for prefix, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and f"{prefix}.{name}".lstrip(".") not in ctx.keep_float:
                out_f, in_f = child.weight.shape
                rank = choose_rank(child.weight, config)
                if rank * (in_f + out_f) < in_f * out_f:
                    chosen.append((parent, name, child, rank))
    if not chosen:
        raise ValueError("lowrank: no Linear layer gets smaller at this rank; nothing to compress")
    left_out = tuple(left_out_weights(model, [child.weight for _, _, child, _ in chosen]))
    for parent, name, child, rank in chosen:
        setattr(parent, name, factorize(child, rank))
    return Artifact(model, dense_payload(model), DENSE, results=(CoverageResult(len(chosen), left_out),))
