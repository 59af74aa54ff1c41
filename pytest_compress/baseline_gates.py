"""Gates that compare a result with its stored baselines.

Which comparison applies depends on what the case measured (``Verdict.baseline`` records it):

- **exact** — the reference the case compressed has the digest the baseline recorded (same
  weights, same eval data). Same inputs and same code must give the same result, so the
  tolerances are tight, and an identical artifact must reproduce size and metric exactly.
- **spread** — the reference was retrained (another CPU's kernels, another torch) and the baseline
  recorded K draws: the result must lie inside the band one new draw is expected in
  (``spread.band``; the fixed tolerances are its floor).
- **tolerance** — an entry written before reference digests existed: the fixed tolerances.

In every mode the eval data must be the data the baseline was measured on: scores on another
eval set are not comparable, so a changed eval set fails and says so.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from pytest_compress.baselines import LatencyBaseline, QualityBaseline
from pytest_compress.results import EXACT, SPREAD, TOLERANCE, CaseResult
from pytest_compress.spread import band
from pytest_compress.thresholds import DEFAULT_POLICY, Gate, Policy, Thresholds, _ci
from pytest_compress.units import fmt_metric, fmt_metric_delta, fmt_ratio


@dataclass
class QualityComparison:
    mode: str  # EXACT | SPREAD | TOLERANCE
    gates: list[Gate] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # better than the baseline beyond tolerance / band
    spread: dict[str, Any] = field(default_factory=dict)  # SPREAD: the bands and the values now


def compare_quality(
    r: CaseResult, base: QualityBaseline, t: Thresholds, where: str, policy: Policy = DEFAULT_POLICY
) -> QualityComparison:
    same_reference = bool(base.reference_sha256) and base.reference_sha256 == r.reference_sha256
    if same_reference or not base.reference_sha256:
        mode = EXACT if same_reference else TOLERANCE
        result = QualityComparison(mode, tolerance_gates(r, base, t, where), _stale_vs_value(r, base, t))
    elif base.spread is None or not r.reference_sha256:
        result = QualityComparison(TOLERANCE, tolerance_gates(r, base, t, where), _stale_vs_value(r, base, t))
    else:
        result = spread_comparison(r, base, t, where, policy)
    if base.eval_sha256 and r.eval_sha256 and base.eval_sha256 != r.eval_sha256:
        result.gates.insert(
            0,
            Gate(
                "eval-data",
                False,
                f"eval data changed: digest {r.eval_sha256[:12]} vs baseline {base.eval_sha256[:12]} — scores on "
                "another eval set are not comparable; if the change is intended, refresh the baseline with "
                f"--compress-update-baselines [{where}]",
            ),
        )
        result.stale.clear()
    return result


def tolerance_gates(r: CaseResult, base: QualityBaseline, t: Thresholds, where: str) -> list[Gate]:
    """The tight comparison: fixed tolerances, and an identical artifact must reproduce exactly."""
    unit = r.metric.unit
    same_kernels = bool(base.kernels) and base.kernels == r.fingerprint.get("kernels")
    if base.artifact_sha256 and base.artifact_sha256 == r.artifact_sha256 and same_kernels:
        # The very same bytes under the same kernels: size and metric must match exactly. A
        # difference is a bug (non-deterministic evaluation), never noise. (Under other kernels
        # the same bytes evaluate with other rounding: the tolerances below apply.)
        same = (
            r.size.compressed_bytes == base.compressed_bytes
            and round(r.metric.compressed, 6) == base.compressed_metric
            and round(r.metric.reference, 6) == base.reference_metric
        )
        return [
            Gate(
                "identical-artifact",
                same,
                f"identical artifact (sha256 {r.artifact_sha256[:12]}) but results differ from baseline: "
                f"size {r.size.compressed_bytes} vs {base.compressed_bytes} B, {r.metric.name} "
                f"{fmt_metric(r.metric.compressed, unit)} vs {fmt_metric(base.compressed_metric, unit)}, reference "
                f"{fmt_metric(r.metric.reference, unit)} vs {fmt_metric(base.reference_metric, unit)} — this is a "
                f"bug (non-deterministic evaluation, changed eval data) or a hand-edited baseline, not noise [{where}]",
            )
        ]
    gates = []
    limit = base.compressed_bytes * (1 + t.size_tolerance)
    change = r.size.compressed_bytes / base.compressed_bytes - 1 if base.compressed_bytes else math.inf
    gates.append(
        Gate(
            "size-baseline",
            r.size.compressed_bytes <= limit,
            f"size {r.size.compressed_bytes} B vs baseline {base.compressed_bytes} B ({change:+.1%}) "
            f"> size_tolerance {t.size_tolerance:.1%} [{where}]",
        )
    )
    for gate, label, now, then in (
        ("accuracy-baseline", r.metric.name, r.metric.compressed, base.compressed_metric),
        ("reference-baseline", f"reference {r.metric.name}", r.metric.reference, base.reference_metric),
    ):
        worse = (then - now) if r.metric.higher_is_better else (now - then)
        gates.append(
            Gate(
                gate,
                worse <= t.accuracy_tolerance + 1e-12,
                f"{label} {fmt_metric(now, unit)} vs baseline {fmt_metric(then, unit)} "
                f"(-{fmt_metric_delta(worse, unit)}) > accuracy_tolerance "
                f"{fmt_metric_delta(t.accuracy_tolerance, unit)} [{where}]",
            )
        )
    return gates


def _stale_vs_value(r: CaseResult, base: QualityBaseline, t: Thresholds) -> list[str]:
    if base.artifact_sha256 and base.artifact_sha256 == r.artifact_sha256:
        return []
    found = []
    unit = r.metric.unit
    if r.size.compressed_bytes < base.compressed_bytes * (1 - t.size_tolerance):
        found.append(f"size {r.size.compressed_bytes} B is smaller than baseline {base.compressed_bytes} B")
    better = (r.metric.compressed - base.compressed_metric) * (1 if r.metric.higher_is_better else -1)
    if better > t.accuracy_tolerance + 1e-12:
        found.append(
            f"{r.metric.name} {fmt_metric(r.metric.compressed, unit)} is better than baseline "
            f"{fmt_metric(base.compressed_metric, unit)}"
        )
    return found


def spread_comparison(
    r: CaseResult, base: QualityBaseline, t: Thresholds, where: str, policy: Policy
) -> QualityComparison:
    """Reference retrained: is each gated quantity inside the band the recorded draws predict?"""
    assert base.spread is not None
    sp, m, unit = base.spread, r.metric, r.metric.unit
    conf = policy.confidence
    size_floor = t.size_tolerance * max(sp.compressed_bytes)
    checks = (
        # gate name, label, value now, recorded values, floor, higher is worse, formatter
        ("size-baseline", "size", r.size.compressed_bytes, sp.compressed_bytes, size_floor, True, _fmt_b),
        ("accuracy-baseline", f"{m.name} drop", m.drop, sp.drop, t.accuracy_tolerance, True, _delta(unit)),
        ("reference-baseline", f"reference {m.name}", m.reference, sp.reference, t.accuracy_tolerance,
         not m.higher_is_better, _value(unit)),
    )  # fmt: skip
    out = QualityComparison(SPREAD)
    for name, label, now, values, floor, higher_is_worse, fmt in checks:
        b = band(values, conf, floor)
        # NaN compares false both ways: a non-finite value is never "inside" a band.
        worse = not math.isfinite(now) or (now > b.high if higher_is_worse else now < b.low)
        better = now < b.low if higher_is_worse else now > b.high
        out.spread[name] = {**b.to_dict(), "now": round(float(now), 6)}
        spread_note = f"{b.draws} draws {fmt(b.mean)} sd {fmt(b.sd)}, {conf:.0%} band [{fmt(b.low)}, {fmt(b.high)}]" + (
            " (tolerance floor)" if b.floored else ""
        )
        out.gates.append(
            Gate(
                name,
                not worse,
                f"{label} {fmt(now)} outside the baseline's retraining spread ({spread_note}; reference "
                f"retrained: digest {r.reference_sha256[:12]} vs recorded {base.reference_sha256[:12]}) [{where}]",
            )
        )
        if better:
            out.stale.append(f"{label} {fmt(now)} is better than the recorded spread [{fmt(b.low)}, {fmt(b.high)}]")
    return out


def _fmt_b(v: float) -> str:
    return f"{v:.0f} B"


def _delta(unit: str):  # noqa: ANN202
    return lambda v: fmt_metric_delta(v, unit)


def _value(unit: str):  # noqa: ANN202
    return lambda v: fmt_metric(v, unit)


# Recorded runs a latency entry needs before its own spread can widen the floor.
MIN_LATENCY_RUNS = 5


def latency_floor(base: LatencyBaseline, t: Thresholds, confidence: float) -> float:
    """The slowest speedup the latency baseline allows; the gate and the timing's stop rule share it
    (through ``gates.GatePlan``).

    With at least ``MIN_LATENCY_RUNS`` recorded runs: the low end of the band one new run's speedup
    is expected in (its half-width at least ``latency_tolerance``); with fewer: ``latency_tolerance``
    below their mean (a t band from 2-4 runs is too uncertain to use: with 3 runs its 99% half-width
    is 11 sd).
    """
    runs = base.runs
    if len(runs) >= MIN_LATENCY_RUNS:
        return band(runs, confidence, floor=t.latency_tolerance * statistics.fmean(runs)).low
    return statistics.fmean(runs) * (1 - t.latency_tolerance)


def latency_baseline_gate(r: CaseResult, base: LatencyBaseline, t: Thresholds, where: str, policy: Policy) -> Gate:
    assert r.latency is not None
    lat = r.latency
    floor = latency_floor(base, t, policy.confidence)
    conf = f"{policy.confidence:.0%} {policy.mode}"
    if len(base.speedups) >= MIN_LATENCY_RUNS:
        # The band holds the recorded runs' spread (measured in one session); this run's interval
        # adds its own noise and whatever the load does between sessions: lenient fails only when
        # the whole interval lies below the band, strict unless it lies above the band's floor.
        worse = policy.worse_than(lat.speedup_ci, floor, higher_is_better=True)
        spread = f"{len(base.speedups)} recorded runs {fmt_ratio(statistics.fmean(base.speedups))}, {conf} band floor"
        return Gate(
            "latency-baseline",
            not worse,
            f"speedup {fmt_ratio(lat.speedup)} {_ci(*lat.speedup_ci, fmt_ratio)} below the baseline's run-to-run "
            f"spread ({spread} {fmt_ratio(floor)}; latency_tolerance {t.latency_tolerance:.0%} is its least "
            f"width) [{where}]",
        )
    runs = base.runs
    recorded = f" (mean of {len(runs)} recorded runs)" if len(runs) > 1 else ""
    return Gate(
        "latency-baseline",
        not policy.worse_than(lat.speedup_ci, floor, higher_is_better=True),
        f"speedup {fmt_ratio(lat.speedup)} {_ci(*lat.speedup_ci, fmt_ratio)} vs baseline "
        f"{fmt_ratio(statistics.fmean(runs))}{recorded}: below {fmt_ratio(floor)} (latency_tolerance "
        f"{t.latency_tolerance:.0%}, {conf}) [{where}]",
    )


MEMORY_SLACK_BYTES = 2**20  # allocator and page granularity: a tiny model's peak moves by pages


def memory_baseline_gate(r: CaseResult, base: LatencyBaseline, t: Thresholds, where: str) -> Gate | None:
    """The compressed model's peak memory against this machine's recorded one; None when either
    is missing or they measured different things (CPU RSS vs CUDA allocated)."""
    mem = r.memory
    if mem is None or base.peak_memory_bytes is None or base.peak_memory_kind != mem.compressed_kind:
        return None
    limit = base.peak_memory_bytes * (1 + t.memory_tolerance) + MEMORY_SLACK_BYTES
    return Gate(
        "memory-baseline",
        mem.compressed_bytes <= limit,
        f"peak memory {mem.compressed_bytes} B ({mem.compressed_kind}) > baseline {base.peak_memory_bytes} B "
        f"+ memory_tolerance {t.memory_tolerance:.0%} + 1 MiB = {int(limit)} B [{where}]",
    )


def latency_ceiling(base: LatencyBaseline, t: Thresholds, confidence: float) -> float:
    """The fastest speedup the latency baseline expects: the floor's mirror image about the
    baseline's centre. A run confidently above it finds the baseline stale."""
    center = statistics.fmean(base.runs)
    return 2 * center - latency_floor(base, t, confidence)


def latency_stale(r: CaseResult, base: LatencyBaseline, t: Thresholds, policy: Policy) -> list[str]:
    if r.latency is None:
        return []
    ceiling = latency_ceiling(base, t, policy.confidence)
    if policy.worse_than(r.latency.speedup_ci, ceiling, higher_is_better=False):
        return [f"speedup {fmt_ratio(r.latency.speedup)} is above baseline {fmt_ratio(base.speedup)}"]
    return []
