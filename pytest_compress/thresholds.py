"""Thresholds (the limits the user sets) and the gates that judge a result against them.

Comparisons with stored baselines are in ``baseline_gates.py``; ``gates.py`` puts both together.

Pure functions over results: no torch, no pytest, so every rule is unit-testable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pytest_compress.results import CaseResult
from pytest_compress.units import fmt_bytes, fmt_metric, fmt_metric_delta, fmt_ratio


@dataclass(frozen=True)
class Thresholds:
    """Limits for one case. ``None`` means "not gated". Metric values are in the metric's unit
    (accuracy is a fraction: ``max_accuracy_drop=0.02`` allows 2 percentage points)."""

    max_accuracy_drop: float | None = None
    # The drop as a fraction of the reference metric: perplexity +5% is max_relative_drop=0.05.
    max_relative_drop: float | None = None
    min_accuracy: float | None = None
    min_size_reduction: float | None = None
    max_size_bytes: int | None = None
    min_speedup: float | None = None
    # Ceiling on the compressed model's peak inference memory (measure/memory.py); setting it
    # turns the measurement on for the case.
    max_peak_memory_bytes: int | None = None
    # Allowed change against the stored baseline before a case fails.
    size_tolerance: float = 0.01  # relative
    accuracy_tolerance: float = 0.01  # absolute, metric unit
    # Relative, on the speedup: the least half-width of the latency baseline's run-to-run band (or,
    # for a baseline without recorded runs, the allowed fall). The band itself is measured, and
    # refreshes in later sessions add to it (spread.accumulate); this floor covers what the
    # recorded runs have not seen yet: how far a speedup moves from one session to the next on a
    # shared machine. Measured on the 2-core machine that recorded baselines/latency (README,
    # "How the gates decide": tools/latency_drift.py). Before samples were timed in the steady
    # state (settling calls, measure/latency.py) speedups fell by up to 22% between sessions and
    # the default was 30%, which let a 33% slower compressed forward (speedup -31%) pass. Settled,
    # two full-suite runs of 116 cases differed by at most -4.6% / +18.6%: 20% catches that
    # slowdown and leaves room for a between-session move four times the largest fall seen.
    latency_tolerance: float = 0.20
    # Relative growth of the compressed model's peak memory over the per-machine baseline before
    # a case fails; 1 MiB more is always allowed (page-granular noise of tiny models).
    memory_tolerance: float = 0.10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if f.name.endswith("_tolerance") and value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value!r}")
            if f.name in POSITIVE and value <= 0:
                raise ValueError(f"{f.name} must be > 0, got {value!r}")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def merged(self, overrides: Mapping[str, Any]) -> Thresholds:
        return Thresholds(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **overrides})


POSITIVE = ("min_size_reduction", "min_speedup", "max_size_bytes", "max_peak_memory_bytes")
MODES = ("lenient", "strict")


@dataclass(frozen=True)
class Policy:
    """How sure a gate must be before it acts.

    ``lenient`` (default, for CI): fail only when the interval lies entirely on the wrong side of
    the limit — the result is *confidently worse* than allowed, so noise alone rarely fails a build.
    ``strict`` (release gates): fail unless the interval lies entirely on the right side — the
    result must be *confidently within* budget, so an under-sampled result cannot sneak through.
    ``strict_baselines``: a result confidently *better* than its baseline (a stale baseline) fails
    instead of only warning.
    """

    mode: str = "lenient"
    confidence: float = 0.99
    strict_baselines: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"gate mode must be one of {MODES}, got {self.mode!r}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence!r}")

    def worse_than(self, interval: tuple[float, float], limit: float, higher_is_better: bool) -> bool:
        """Does the interval say the value is on the wrong side of ``limit``?

        An interval with a NaN end says nothing, and NaN compares false both ways: it counts as
        the wrong side, never as a pass."""
        lo, hi = interval
        if math.isnan(lo) or math.isnan(hi) or math.isnan(limit):
            return True
        if higher_is_better:  # wrong side: below the limit
            return (hi if self.mode == "lenient" else lo) < limit
        return (lo if self.mode == "lenient" else hi) > limit


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Gate:
    name: str
    ok: bool
    message: str


def _ci(lo: float, hi: float, fmt) -> str:  # noqa: ANN001
    return f"[{fmt(lo)}, {fmt(hi)}]"


def threshold_gates(r: CaseResult, t: Thresholds, policy: Policy = Policy()) -> list[Gate]:
    m, unit = r.metric, r.metric.unit
    conf = f"{policy.confidence:.0%} {policy.mode}"
    gates = []
    if t.max_accuracy_drop is not None:
        gates.append(
            Gate(
                "accuracy-drop",
                not policy.worse_than(m.drop_ci, t.max_accuracy_drop, higher_is_better=False),
                f"{m.name} drop {fmt_metric_delta(m.drop, unit)} "
                f"{_ci(*m.drop_ci, lambda v: fmt_metric_delta(v, unit))} > max_accuracy_drop "
                f"{fmt_metric_delta(t.max_accuracy_drop, unit)} "
                f"({fmt_metric(m.reference, unit)} -> {fmt_metric(m.compressed, unit)}, {m.examples} examples, "
                f"paired {conf})",
            )
        )
    if t.max_relative_drop is not None and m.reference == 0:
        # A relative change of a zero reference is undefined: fail and say so, never guess a scale.
        gates.append(Gate("relative-drop", False, f"{m.name}: reference is 0, so max_relative_drop is undefined"))
    elif t.max_relative_drop is not None:
        scale = abs(m.reference)
        rel_ci = (m.drop_ci[0] / scale, m.drop_ci[1] / scale)
        gates.append(
            Gate(
                "relative-drop",
                not policy.worse_than(rel_ci, t.max_relative_drop, higher_is_better=False),
                f"{m.name} {fmt_metric(m.reference, unit)} -> {fmt_metric(m.compressed, unit)} is "
                f"{m.relative_drop:+.2%} worse [{rel_ci[0]:+.2%}, {rel_ci[1]:+.2%}] > max_relative_drop "
                f"{t.max_relative_drop:.2%} ({m.examples} examples, paired {conf})",
            )
        )
    if t.min_accuracy is not None:
        ok = m.compressed >= t.min_accuracy if m.higher_is_better else m.compressed <= t.min_accuracy
        gates.append(
            Gate(
                "min-accuracy",
                ok,
                f"{m.name} {fmt_metric(m.compressed, unit)} misses min_accuracy {fmt_metric(t.min_accuracy, unit)}",
            )
        )
    s = r.size
    if t.min_size_reduction is not None:
        gates.append(
            Gate(
                "size-reduction",
                s.reduction >= t.min_size_reduction,
                f"size reduction {fmt_ratio(s.reduction)} < min_size_reduction {fmt_ratio(t.min_size_reduction)} "
                f"({fmt_bytes(s.reference_bytes)} -> {fmt_bytes(s.compressed_bytes)})",
            )
        )
    if t.max_size_bytes is not None:
        gates.append(
            Gate(
                "max-size",
                s.compressed_bytes <= t.max_size_bytes,
                f"size {s.compressed_bytes} B > max_size_bytes {int(t.max_size_bytes)} B",
            )
        )
    if t.min_speedup is not None and r.latency is not None:
        lat = r.latency
        gates.append(
            Gate(
                "speedup",
                not policy.worse_than(lat.speedup_ci, t.min_speedup, higher_is_better=True),
                f"speedup {fmt_ratio(lat.speedup)} {_ci(*lat.speedup_ci, fmt_ratio)} < min_speedup "
                f"{fmt_ratio(t.min_speedup)} (in-run median of {lat.pairs} pairs, {conf}: reference "
                f"{lat.reference_ms:.3f} ms, compressed {lat.compressed_ms:.3f} ms, {lat.threads} thread(s))",
            )
        )
    if t.max_peak_memory_bytes is not None:
        gates.append(_memory_gate(r, int(t.max_peak_memory_bytes)))
    return gates


def _memory_gate(r: CaseResult, limit: int) -> Gate:
    mem = r.memory
    if mem is None:  # asked for but not measured (not Linux): fail, never pass unmeasured
        reason = r.details.get("memory_note", "peak memory was not measured")
        return Gate("peak-memory", False, f"{reason}; max_peak_memory_bytes {limit} B cannot be checked")
    return Gate(
        "peak-memory",
        mem.compressed_bytes <= limit,
        f"peak memory {mem.compressed_bytes} B ({fmt_bytes(mem.compressed_bytes)}, {mem.compressed_kind}) > "
        f"max_peak_memory_bytes {limit} B (reference {fmt_bytes(mem.reference_bytes)})",
    )
