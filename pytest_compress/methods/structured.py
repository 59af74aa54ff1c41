"""Structured pruning: whole channels physically removed, with an optional short fine-tune.

Torch-Pruning's dependency graph finds every layer coupled to a pruned channel (the next
conv's input, BatchNorm, residual adds) and slices them all, so the result is a smaller dense
model — smaller tensors in the state dict and fewer FLOPs — not a mask. The classifier's output
layer (or the layers ``ModelSpec.output_layers`` names) is never pruned. Fine-tuning uses the
model's training data and its ``ModelSpec.finetune`` loop where it has one; its budget (epochs, learning
rate) is part of the config, so it shows in the report and in the baseline key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.cache import source_of
from pytest_compress.formats import DENSE
from pytest_compress.formats.dense import dense_payload
from pytest_compress.results import CoverageResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method
from pytest_compress.training import TrainSettings, fit


@dataclass(frozen=True)
class StructuredConfig(MethodConfig):
    label_fields = ("ratio", "finetune_epochs")
    ratio: float = 0.5
    finetune_epochs: int = 0
    finetune_lr: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 < self.ratio < 1:
            raise ValueError(f"prune-structured: ratio must be in (0, 1), got {self.ratio}")
        if self.finetune_epochs < 0 or self.finetune_lr <= 0:
            raise ValueError("prune-structured: finetune_epochs must be >= 0 and finetune_lr > 0")


def output_layers(model: nn.Module, names: tuple[str, ...] = ()) -> list[nn.Module]:
    """The modules the model names as its outputs (``ModelSpec.output_layers``), else the last
    Linear (the classifier): their outputs are the classes (and boxes) and must all stay."""
    if names:
        return [model.get_submodule(n) for n in names]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1:]


@register_method("prune-structured", config=StructuredConfig)
def prune_structured_artifact(model: nn.Module, config: StructuredConfig, ctx: MethodContext) -> Artifact:
    """:func:`prune_structured`, reporting coverage: ``left_out`` names every weight tensor whose
    shape did not change — the classifier (kept whole by design), and whatever Torch-Pruning could
    not shrink (a GRU's gates, an embedding)."""
    before = _weight_shapes(model)
    pruned = prune_structured(model, config, ctx)
    after = _weight_shapes(pruned)
    kept = [name for name, (kind, shape) in before.items() if after.get(name, (kind, None))[1] == shape]
    left_out = tuple(f"{n} ({before[n][0]}, {math.prod(before[n][1])} weights)" for n in kept)
    coverage = CoverageResult(changed_tensors=len(before) - len(kept), left_out=left_out)
    return Artifact(pruned, dense_payload(pruned), DENSE, results=(coverage,))


def _weight_shapes(model: nn.Module) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {
        f"{prefix + '.' if prefix else ''}{n}": (type(m).__name__, tuple(p.shape))
        for prefix, m in model.named_modules()
        for n, p in m.named_parameters(recurse=False)
        if p.dim() >= 2
    }


def prune_structured(model: nn.Module, config: StructuredConfig, ctx: MethodContext) -> nn.Module:
    """Remove ``ratio`` of each prunable layer's channels (L2 magnitude), optionally fine-tune."""
    import torch_pruning as tp

    if any(isinstance(m, nn.MultiheadAttention) for m in model.modules()):
        # Torch-Pruning can prune torchvision's ViT only with per-model wiring (head counts, the
        # class token and positional embedding as unwrapped parameters, hidden_dim bookkeeping);
        # run blindly it breaks the attention reshape. Not wired in: skip, don't fake it.
        raise NotApplicable("nn.MultiheadAttention needs model-specific Torch-Pruning configuration (not wired in)")
    model.eval()
    example = tuple(t[:1] for t in ctx.example_inputs)
    pruner = tp.pruner.MetaPruner(
        model,
        example[0] if len(example) == 1 else example,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=config.ratio,
        ignored_layers=output_layers(model, ctx.output_layers),
    )
    pruner.step()
    if config.finetune_epochs:
        if ctx.train_data is None:
            raise ValueError("prune-structured: fine-tuning needs the model's train_data")
        settings = TrainSettings(epochs=config.finetune_epochs, lr=config.finetune_lr, seed=ctx.seed)

        def finetune(m: nn.Module) -> None:
            torch.manual_seed(ctx.seed)
            if ctx.finetune is not None:  # the model's own loop (a detector's losses)
                ctx.finetune(m, ctx.train_data, epochs=settings.epochs, lr=settings.lr, seed=settings.seed)
            else:
                fit(m, ctx.train_data, settings, name="prune-structured fine-tune")

        code = source_of(prune_structured, fit, *([ctx.finetune] if ctx.finetune is not None else []))
        key = {"config": config.fields_dict(), "seed": ctx.seed, "code": code}
        ctx.trained("prune-structured-finetune", model, finetune, key)
    return model.eval()
