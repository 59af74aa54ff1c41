"""Pruning family: global unstructured magnitude pruning, made permanent.

The global threshold is found with ``torch.kthvalue`` and the zeros are written into the
weights directly, so no mask or hook survives. (``torch.nn.utils.prune.global_unstructured``
does the same with ``topk``, measured here at 1.4 s vs 0.2 s per ResNet-18-sized call — it
was a third of the suite's warm run.) The shipped bytes are the sparse-bitmap encoding
(:mod:`pytest_compress.serialize`) — on a dense CPU kernel the zeros buy no speed, and the
report shows that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.serialize import SPARSE_FORMAT, encode_sparse
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, register_method

_PRUNABLE = {"Linear": nn.Linear, "Conv2d": nn.Conv2d, "Conv1d": nn.Conv1d, "MultiheadAttention": nn.MultiheadAttention}


@dataclass(frozen=True)
class UnstructuredConfig(MethodConfig):
    label_fields = ("sparsity",)
    sparsity: float = 0.5
    layers: tuple[str, ...] = ("Conv1d", "Conv2d", "Linear", "MultiheadAttention")

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"prune-unstructured: sparsity must be in [0, 1), got {self.sparsity}")
        bad = [x for x in self.layers if x not in _PRUNABLE]
        if bad or not self.layers:
            raise ValueError(f"prune-unstructured: layers must be a non-empty subset of {sorted(_PRUNABLE)}")


def prunable_weights(model: nn.Module, layers: tuple[str, ...]) -> list[tuple[nn.Module, str]]:
    """(module, parameter name) of every weight matrix of the chosen layer types.

    nn.MultiheadAttention keeps its fused q/k/v projection as a bare ``in_proj_weight``
    parameter, not an nn.Linear — without it a transformer's attention would never be pruned.
    """
    kinds = tuple(_PRUNABLE[x] for x in layers)
    found = []
    for m in model.modules():
        if not isinstance(m, kinds):
            continue
        if isinstance(m, nn.MultiheadAttention):
            if m.in_proj_weight is not None:
                found.append((m, "in_proj_weight"))
        else:
            found.append((m, "weight"))
    return found


@register_method("prune-unstructured", config=UnstructuredConfig)
def prune_unstructured(model: nn.Module, config: UnstructuredConfig, ctx: MethodContext) -> Artifact:
    """Global magnitude pruning to an exact sparsity over the chosen layer types' weights."""
    targets = prunable_weights(model, config.layers)
    if not targets:
        raise ValueError(f"prune-unstructured: the model has no {', '.join(config.layers)} layers")
    weights = [getattr(m, n) for m, n in targets]
    masks = global_magnitude_masks(weights, config.sparsity)
    with torch.no_grad():
        for w, keep in zip(weights, masks, strict=True):
            w.mul_(keep)
    pruned = sum(int((~keep).sum()) for keep in masks)
    total = sum(w.numel() for w in weights)
    return Artifact(
        module=model,
        payload=encode_sparse(model.state_dict()),
        encoding=SPARSE_FORMAT,
        details={"weight_sparsity": round(pruned / total, 6)},
    )


def global_magnitude_masks(weights: list[torch.Tensor], sparsity: float) -> list[torch.Tensor]:
    """Keep-masks that zero exactly ``round(sparsity * total)`` weights of smallest magnitude.

    Ties at the threshold are broken by position, so the count is exact whatever the values.
    """
    with torch.no_grad():
        scores = torch.cat([w.detach().abs().flatten() for w in weights])
        k = round(sparsity * scores.numel())
        drop = torch.zeros(scores.numel(), dtype=torch.bool)
        if k > 0:
            threshold = torch.kthvalue(scores, k).values
            drop = scores < threshold
            ties = torch.nonzero(scores == threshold).flatten()
            drop[ties[: k - int(drop.sum())]] = True
        masks, start = [], 0
        for w in weights:
            masks.append(~drop[start : start + w.numel()].reshape(w.shape))
            start += w.numel()
    return masks
