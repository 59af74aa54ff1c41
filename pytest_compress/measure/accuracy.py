"""The task metric, kept per example so reference and compressed can be compared pairwise."""

from __future__ import annotations

import torch
from torch import nn

from pytest_compress.spec import Metric


def per_example(
    model: nn.Module,
    metric: Metric,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
    device: str = "cpu",
) -> tuple[float, ...]:
    model.eval()
    scores: list[torch.Tensor] = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].to(device)
            y = targets[start : start + batch_size].to(device)
            out = model(x)
            scores.append(metric.score(out, y).detach().float().cpu())
    flat = torch.cat(scores)
    if flat.numel() != len(inputs):
        raise ValueError(f"metric {metric.name!r} returned {flat.numel()} scores for {len(inputs)} examples")
    return tuple(float(v) for v in flat.tolist())
