"""Task and fidelity metrics, kept per example so reference and compressed can be compared pairwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pytest_compress.paired import discordant, drop_interval, is_binary, mcnemar_exact_p
from pytest_compress.results import MetricResult
from pytest_compress.spec import Metric, SpecError


def per_example(
    model: nn.Module,
    metrics: Sequence[Metric],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
    device: str = "cpu",
    *,
    reference_outputs: Sequence[torch.Tensor] | None = None,
    keep_outputs: bool = False,
) -> tuple[dict[str, tuple[float, ...]], list[torch.Tensor] | None]:
    """Every metric's per-example scores of ``model`` on ``(inputs, targets)``, in batches.

    Metrics with ``against="reference"`` score the outputs against ``reference_outputs`` (the
    uncompressed model's outputs, batch by batch, as returned with ``keep_outputs=True``); without
    them the model is the reference and scores itself. Returns the scores and, if asked, the
    outputs (on the CPU).
    """
    if len(inputs) != len(targets):
        raise SpecError(
            f"eval data: inputs and targets must have the same length, "
            f"got {len(inputs)} inputs and {len(targets)} targets"
        )
    if len(inputs) == 0:
        raise SpecError("eval data is empty: give at least one (input, target) example")
    model.eval()
    scores: dict[str, list[torch.Tensor]] = {m.name: [] for m in metrics if m.aggregate != "set"}
    records: dict[str, list[Any]] = {m.name: [] for m in metrics if m.aggregate == "set"}
    kept: list[torch.Tensor] = []
    with torch.inference_mode():
        for i, start in enumerate(range(0, len(inputs), batch_size)):
            x = inputs[start : start + batch_size].to(device)
            y = targets[start : start + batch_size].to(device)
            out = model(x)
            ref = reference_outputs[i].to(device) if reference_outputs is not None else out
            for m in metrics:
                scored = m.score(out, ref if m.against == "reference" else y)
                if m.aggregate == "set":
                    records[m.name].extend(scored)
                else:
                    scores[m.name].append(scored.detach().float().cpu())
            if keep_outputs:
                kept.append(out.detach().cpu())
    result: dict[str, tuple[Any, ...]] = {}
    for m in metrics:
        if m.aggregate == "set":
            if len(records[m.name]) != len(inputs):
                raise SpecError(
                    f"metric {m.name!r}: score() must return one record per example, "
                    f"got {len(records[m.name])} for {len(inputs)} examples"
                )
            result[m.name] = tuple(records[m.name])
            continue
        flat = torch.cat(scores[m.name])
        if flat.numel() != len(inputs):
            raise SpecError(
                f"metric {m.name!r}: score() must return one number per example, "
                f"got {flat.numel()} for {len(inputs)} examples"
            )
        result[m.name] = tuple(float(v) for v in flat.tolist())
    return result, (kept if keep_outputs else None)


def paired_metric(
    metric: Metric, ref: tuple[float, ...], cmp: tuple[float, ...], confidence: float, seed: int
) -> MetricResult:
    """Both models' metric on the same examples, with a paired interval for the drop."""
    if metric.aggregate == "set":  # records, not numbers: the metric's own interval; results keep no outcomes
        assert metric.paired_interval is not None
        return MetricResult(
            name=metric.name,
            unit=metric.unit,
            higher_is_better=metric.higher_is_better,
            reference=metric.value(ref),
            compressed=metric.value(cmp),
            examples=len(cmp),
            drop_ci=metric.paired_interval(ref, cmp, confidence, seed),
            aggregate=metric.aggregate,
            definition=metric.definition,
        )
    lo, hi = drop_interval(ref, cmp, confidence=confidence, seed=seed, aggregate=metric.aggregate)
    if not metric.higher_is_better:  # drop = compressed - reference
        lo, hi = -hi, -lo
    binary = is_binary(ref, cmp)
    return MetricResult(
        name=metric.name,
        unit=metric.unit,
        higher_is_better=metric.higher_is_better,
        reference=metric.value(ref),
        compressed=metric.value(cmp),
        examples=len(cmp),
        reference_outcomes=ref,
        compressed_outcomes=cmp,
        drop_ci=(lo, hi),
        mcnemar_p=mcnemar_exact_p(*discordant(ref, cmp)) if binary else None,
        aggregate=metric.aggregate,
        definition=metric.definition,
    )
