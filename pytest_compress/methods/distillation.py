"""Knowledge distillation: train the model's registered student to match the teacher.

Loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)
(Hinton et al., 2015). For an honest comparison the same student is also trained *without* the
teacher (plain cross-entropy, same epochs, seed and schedule); its metric is reported in the
details as ``student_without_teacher``, so the report shows what the teacher added.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pytest_compress.cache import source_of
from pytest_compress.formats import DENSE
from pytest_compress.formats.dense import dense_payload
from pytest_compress.results import DistillationResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method
from pytest_compress.training import TrainSettings, fit


@dataclass(frozen=True)
class DistillConfig(MethodConfig):
    label_fields = ("epochs",)
    epochs: int = 10
    lr: float = 3e-3
    temperature: float = 4.0
    alpha: float = 0.7

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.temperature <= 0 or not 0 <= self.alpha <= 1:
            raise ValueError("distill: need epochs >= 1, lr > 0, temperature > 0, 0 <= alpha <= 1")


@register_method("distill", config=DistillConfig)
def distill(model: nn.Module, config: DistillConfig, ctx: MethodContext) -> Artifact:
    """Train the registered student against the teacher's softened outputs."""
    if ctx.student is None:
        raise NotApplicable("the model registers no student architecture (ModelSpec.student)")
    if ctx.train_data is None:
        raise NotApplicable("distillation needs the model's train_data")
    teacher = model.eval()
    settings = TrainSettings(epochs=config.epochs, lr=config.lr, seed=ctx.seed)
    t = config.temperature

    # The teacher is frozen and the data fixed, so its logits are computed once, not every epoch;
    # they ride along as extra target columns: [label, logit_0, ..., logit_C-1].
    x, y = ctx.train_data
    with torch.no_grad():
        logits = torch.cat([teacher(x[i : i + 256]) for i in range(0, len(x), 256)])
    targets = torch.cat([y[:, None].float(), logits], dim=1)

    def kd_loss(out: torch.Tensor, _x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        soft = F.softmax(target[:, 1:] / t, dim=-1)
        kl = F.kl_div(F.log_softmax(out / t, dim=-1), soft, reduction="batchmean") * t * t
        return config.alpha * kl + (1 - config.alpha) * F.cross_entropy(out, target[:, 0].long())

    torch.manual_seed(ctx.seed)
    student = ctx.student()
    alone = copy.deepcopy(student)  # identical initial weights for the no-teacher control
    key = {"config": config.fields_dict(), "seed": ctx.seed, "code": source_of(distill, fit)}
    ctx.trained(
        "distill-student",
        student,
        lambda m: fit(m, (x, targets), settings, name="distill: student with teacher", loss=kd_loss),
        key,
    )

    def control(m: nn.Module) -> None:
        torch.manual_seed(ctx.seed)
        fit(m, ctx.train_data, settings, name="distill: student without teacher")

    ctx.trained("distill-control", alone, control, key)
    report = DistillationResult(
        student_params=sum(p.numel() for p in student.parameters()),
        student_without_teacher=round(ctx.evaluate(alone.eval()), 6) if ctx.evaluate is not None else None,
    )
    return Artifact(module=student.eval(), payload=dense_payload(student), encoding=DENSE, results=(report,))
