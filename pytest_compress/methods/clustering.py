"""Weight sharing: k-means clustering of each layer's weights into ``clusters`` shared values.

Shipped as ``pytest-compress/clustered-v1`` (:mod:`pytest_compress.formats.clustered`): per
clustered tensor its codebook (``clusters`` float32 values) and its indices packed at
``ceil(log2(clusters))`` bits each; other tensors stay dense. The running model uses the decoded
(dense float32) weights: clustering buys size, not speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.formats import CLUSTERED
from pytest_compress.formats.clustered import CLUSTERED_FORMAT, Clustered, index_bits
from pytest_compress.measure.size import left_out_weights
from pytest_compress.results import CoverageResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, register_method

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
FIT_SAMPLE = 1 << 20


@dataclass(frozen=True)
class ClusterConfig(MethodConfig):
    label_fields = ("clusters",)
    clusters: int = 16
    iterations: int = 25

    def __post_init__(self) -> None:
        if not 2 <= self.clusters <= 256:
            raise ValueError(f"cluster: clusters must be in [2, 256], got {self.clusters}")
        if self.iterations < 1:
            raise ValueError("cluster: iterations must be >= 1")


def kmeans_1d(values: torch.Tensor, k: int, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook, codes) for 1-D data; centroids start at evenly spaced quantiles (deterministic).

    Centroids are fitted on at most ``FIT_SAMPLE`` values (a fixed-seed sample: 1-D k-means on a
    million points already pins 256 centroids down), then every value is assigned.
    """
    flat = values.detach().flatten().float()
    k = min(k, flat.numel())
    fit = flat
    if flat.numel() > FIT_SAMPLE:
        fit = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[:FIT_SAMPLE]]
    centroids = torch.quantile(fit, torch.linspace(0, 1, k))
    for _ in range(iterations):
        codes = torch.bucketize(fit, (centroids[1:] + centroids[:-1]) / 2)
        sums = torch.zeros(k).index_add_(0, codes, fit)
        counts = torch.bincount(codes, minlength=k).float()
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        updated, _ = torch.sort(updated)
        if torch.equal(updated, centroids):
            break
        centroids = updated
    codes = torch.bucketize(flat, (centroids[1:] + centroids[:-1]) / 2)
    return centroids, codes


@register_method("cluster", config=ClusterConfig)
def cluster(model: nn.Module, config: ClusterConfig, ctx: MethodContext) -> Artifact:
    """k-means weight sharing per layer; size = codebooks + bit-packed indices."""
    bits = index_bits(config.clusters)
    names = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, _LAYERS)}
    # nn.MultiheadAttention's fused q/k/v projection is a bare parameter, not an nn.Linear.
    names |= {f"{n}.in_proj_weight" for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)}
    tensors = model.state_dict(keep_vars=True)  # every name, tied aliases included
    left_out = tuple(left_out_weights(model, [tensors[n] for n in names if n in tensors]))
    state: dict[str, torch.Tensor | Clustered] = {}
    for name, t in model.state_dict().items():
        if name in names:
            codebook, codes = kmeans_1d(t, config.clusters, config.iterations)
            state[name] = shared = Clustered(codebook=codebook, codes=codes, shape=tuple(t.shape), bits=bits)
            with torch.no_grad():
                t.copy_(shared.values())
        else:  # copied now: a tensor tied to a later clustered one keeps the values it had here
            state[name] = t.detach().clone()
    return Artifact(
        module=model,
        payload=CLUSTERED_FORMAT.encode(state),
        encoding=CLUSTERED,
        details={"index_bits": bits, "clustered_tensors": sum(isinstance(v, Clustered) for v in state.values())},
        results=(CoverageResult(sum(isinstance(v, Clustered) for v in state.values()), left_out),),
    )
