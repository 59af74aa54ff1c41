"""The decision for one case: the limits the user set (``thresholds.py``) plus the comparisons
with stored baselines (``baseline_gates.py``) -> a ``Verdict`` with one-line reasons.

``GatePlan`` is that decision planned before the case runs: built once from the thresholds, the
policy and the baselines, it gives the timing every speedup limit a gate will compare with (so
sampling can stop once all of them are settled) and then decides the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compress.baseline_drift import EXPLAINED, config_changed_gate, config_changed_note, definition_changes
from pytest_compress.baseline_gates import (
    compare_quality,
    latency_baseline_gate,
    latency_ceiling,
    latency_floor,
    latency_stale,
    memory_baseline_gate,
)
from pytest_compress.baselines import LatencyBaseline, QualityBaseline
from pytest_compress.measure.latency import SPEEDUP_ESTIMATOR
from pytest_compress.results import MISSING, TOLERANCE, WRITTEN, CaseResult, Verdict
from pytest_compress.thresholds import DEFAULT_POLICY, Gate, Policy, Thresholds, threshold_gates


@dataclass(frozen=True)
class GatePlan:
    """Everything one case is gated on, fixed before it runs.

    ``quality`` / ``latency`` are the stored baselines (``None`` when missing, or when ``update``
    rewrites them); ``*_where`` say where they live, for the reasons.
    """

    thresholds: Thresholds
    policy: Policy = DEFAULT_POLICY
    quality: QualityBaseline | None = None
    latency: LatencyBaseline | None = None
    quality_where: str = ""
    latency_where: str = ""
    update: bool = False
    update_latency: bool = False  # --compress-update-latency: quality compared, latency recorded
    nodeid: str = ""

    @property
    def speedup_limits(self) -> tuple[float, ...]:
        """Every speedup a gate compares the timing's interval with; empty when recording a
        baseline (no gate compares: the timing spends its whole budget)."""
        if self.update or self.update_latency:
            return ()
        return latency_limits(self.thresholds, self.latency, self.policy)

    def decide(self, result: CaseResult) -> Verdict:
        return decide(
            result,
            self.thresholds,
            quality=self.quality,
            latency=self.latency,
            quality_where=self.quality_where,
            latency_where=self.latency_where,
            update=self.update,
            update_latency=self.update_latency,
            nodeid=self.nodeid,
            policy=self.policy,
        )


def latency_limits(t: Thresholds, latency: LatencyBaseline | None, policy: Policy) -> tuple[float, ...]:
    """The speedup limits the gates will use: ``min_speedup``, the latency baseline's floor (the
    latency-baseline gate) and its ceiling (the stale-baseline check)."""
    limits = [t.min_speedup] if t.min_speedup else []
    if latency is not None:
        limits.append(latency_floor(latency, t, policy.confidence))
        limits.append(latency_ceiling(latency, t, policy.confidence))
    return tuple(limits)


def decide(
    r: CaseResult,
    t: Thresholds,
    *,
    quality: QualityBaseline | None,
    latency: LatencyBaseline | None,
    quality_where: str,
    latency_where: str,
    update: bool,
    nodeid: str,
    policy: Policy = DEFAULT_POLICY,
    update_latency: bool = False,
) -> Verdict:
    """All gates for one case -> a verdict with one-line reasons for every failed gate."""
    gates = threshold_gates(r, t, policy)
    limits = tuple(g.name for g in gates)
    bad = r.non_finite()
    if bad:
        gates.insert(
            0,
            Gate(
                "non-finite",
                False,
                f"{', '.join(bad)} — a NaN or infinite result cannot be compared with any limit or "
                "baseline (the model or metric produced non-finite values)"
                + ("; it is not written to the baseline" if update else ""),
            ),
        )
    notes: list[str] = []
    stale: list[str] = []
    spread: dict = {}
    changes: list[str] = []  # what was measured differs from what the baseline measured
    if update:
        mode = WRITTEN
        draws = 1 + len(r.draws)
        notes.append(f"baseline written to {quality_where} ({draws} draw{'s' if draws > 1 else ''})")
    elif quality is None:
        mode = MISSING
        gates.append(
            Gate(
                "baseline-missing",
                False,
                f"no baseline for {nodeid} in {quality_where}; create it with "
                f"`pytest '{nodeid}' --compress-update-baselines` and commit the file",
            )
        )
    else:
        comparison = compare_quality(r, quality, t, quality_where, policy)
        changes = definition_changes(quality, r)
        mode, spread = comparison.mode, comparison.spread
        gates.extend(comparison.gates)
        stale.extend(comparison.stale)
        if mode == TOLERANCE:
            notes.append(
                f"{quality_where} records no reference digest or spread for this case: compared with fixed "
                "tolerances; refresh it with --compress-update-baselines"
            )
    if r.latency is not None and not update:
        if update_latency:
            notes.append(f"latency baseline written to {latency_where}")
        elif latency is None:
            notes.append(f"no latency baseline for this machine ({latency_where}): latency gated by in-run ratio only")
        else:
            gates.append(latency_baseline_gate(r, latency, t, latency_where, policy))
            if latency.estimator != SPEEDUP_ESTIMATOR:
                notes.append(
                    f"{latency_where} timed this case with another speedup estimator "
                    f"({latency.estimator or 'median of pair ratios'}; this version's: {SPEEDUP_ESTIMATOR}): "
                    "refresh it with --compress-update-latency"
                )
            stale.extend(latency_stale(r, latency, t, policy))
    if r.memory is not None and not update and latency is not None:
        memory_gate = memory_baseline_gate(r, latency, t, latency_where)
        if memory_gate is None:
            notes.append(
                f"no peak-memory baseline for this case in {latency_where}: gated by max_peak_memory_bytes only"
            )
        else:
            gates.append(memory_gate)
    if changes:
        # Numbers measured under another configuration: their comparison is not a regression.
        explained = [g for g in gates if not g.ok and g.name in EXPLAINED]
        if explained:
            gates = [g for g in gates if g not in explained]
            gates.append(config_changed_gate(changes, explained, quality_where))
            stale.clear()
        else:
            stale[:] = [config_changed_note(changes, quality_where)]
    if stale:
        message = f"stale baseline: {'; '.join(stale)}; refresh with --compress-update-baselines"
        if changes:
            message = f"stale baseline: {stale[0]}"
        if policy.strict_baselines:
            gates.append(Gate("stale-baseline", False, message))
        else:
            notes.append(message)
    failed = [g for g in gates if not g.ok]
    common = {"notes": tuple(notes), "limits": limits, "baseline": mode, "spread": spread}
    if failed:
        return Verdict("fail", tuple(g.name for g in failed), tuple(g.message for g in failed), **common)
    return Verdict("new-baseline" if update else "pass", stale=bool(stale), **common)
