"""A plain supervised training loop with fixed seeds and progress lines."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress import progress


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 5e-4
    seed: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, inputs, targets)


def fit(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], s: TrainSettings, name: str, loss: Loss | None = None
) -> None:
    """Train in place with AdamW + one-cycle LR, fixed seed; one progress line per epoch."""
    x, y = data
    gen = torch.Generator().manual_seed(s.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    steps = s.epochs * ((len(x) + s.batch_size - 1) // s.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=steps)
    ce = nn.CrossEntropyLoss()
    loss_fn: Loss = loss or (lambda out, _x, target: ce(out, target))
    start = time.perf_counter()
    model.train()
    for epoch in range(s.epochs):
        order = torch.randperm(len(x), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(x), s.batch_size):
            idx = order[i : i + s.batch_size]
            out = model(x[idx])
            batch_loss = loss_fn(out, x[idx], y[idx])
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            sched.step()
            loss_sum += batch_loss.item() * len(idx)
            labels = y[idx] if y.dim() == 1 else y[idx, 0].long()  # 2-D targets: label first (distillation)
            correct += int((out.argmax(-1) == labels).sum())
            total += len(idx)
        progress.report(
            f"{name}: epoch {epoch + 1}/{s.epochs} loss {loss_sum / total:.4f} "
            f"train-acc {correct / total:.3f} ({time.perf_counter() - start:.0f} s)",
            step=name,
        )
    model.eval()


@dataclass(frozen=True)
class LMSettings:
    """Step-based training for sequence models: batches of windows drawn at random (seeded)."""

    steps: int
    lr: float
    batch_size: int = 32
    warmup: int = 20
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of (batch, time, vocab) logits against (batch, time) targets."""
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


def fit_lm(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    s: LMSettings,
    name: str,
    params: list[nn.Parameter] | None = None,
) -> None:
    """Train ``model(x) -> logits`` in place on (x, y) windows with AdamW, linear warm-up and
    cosine decay to 10%, gradient clipping; only ``params`` if given (adapters). Progress every
    10% of the steps."""
    x, y = data
    gen = torch.Generator().manual_seed(s.seed)
    trainable = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=s.lr, weight_decay=s.weight_decay, betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < s.warmup:
            return (step + 1) / s.warmup
        t = (step - s.warmup) / max(1, s.steps - s.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    start = time.perf_counter()
    model.train()
    recent: list[float] = []
    for step in range(s.steps):
        idx = torch.randint(0, len(x), (s.batch_size,), generator=gen)
        loss = sequence_loss(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, s.clip)
        opt.step()
        sched.step()
        recent.append(loss.item())
        if (step + 1) % max(1, s.steps // 10) == 0 or step + 1 == s.steps:
            avg = sum(recent) / len(recent)
            progress.report(
                f"{name}: step {step + 1}/{s.steps} loss {avg:.4f} nats ({time.perf_counter() - start:.0f} s)",
                step=name,
            )
            recent.clear()
    model.eval()
