"""Pruning family: global unstructured magnitude pruning, made permanent.

``torch.nn.utils.prune`` computes the global mask; ``prune.remove`` bakes the zeros into the
weights so no mask or hook survives. The shipped bytes are the sparse-bitmap encoding
(:mod:`pytest_compress.serialize`) — on a dense CPU kernel the zeros buy no speed, and the
report shows that.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils import prune

from pytest_compress.serialize import SPARSE_FORMAT, encode_sparse
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, register_method

_PRUNABLE = {"Linear": nn.Linear, "Conv2d": nn.Conv2d, "Conv1d": nn.Conv1d}


@dataclass(frozen=True)
class UnstructuredConfig(MethodConfig):
    label_fields = ("sparsity",)
    sparsity: float = 0.5
    layers: tuple[str, ...] = ("Conv1d", "Conv2d", "Linear")

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"prune-unstructured: sparsity must be in [0, 1), got {self.sparsity}")
        bad = [x for x in self.layers if x not in _PRUNABLE]
        if bad or not self.layers:
            raise ValueError(f"prune-unstructured: layers must be a non-empty subset of {sorted(_PRUNABLE)}")


def prunable_weights(model: nn.Module, layers: tuple[str, ...]) -> list[tuple[nn.Module, str]]:
    kinds = tuple(_PRUNABLE[x] for x in layers)
    return [(m, "weight") for m in model.modules() if isinstance(m, kinds)]


@register_method("prune-unstructured", config=UnstructuredConfig)
def prune_unstructured(model: nn.Module, config: UnstructuredConfig, ctx: MethodContext) -> Artifact:
    """Global magnitude pruning to an exact sparsity over the chosen layer types' weights."""
    targets = prunable_weights(model, config.layers)
    if not targets:
        raise ValueError(f"prune-unstructured: the model has no {', '.join(config.layers)} layers")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=config.sparsity)
    for module, name in targets:
        prune.remove(module, name)
    pruned = sum(int((getattr(m, n) == 0).sum()) for m, n in targets)
    total = sum(getattr(m, n).numel() for m, n in targets)
    return Artifact(
        module=model,
        payload=encode_sparse(model.state_dict()),
        encoding=SPARSE_FORMAT,
        details={"weight_sparsity": round(pruned / total, 6)},
    )
