"""The one check workflow behind the ``compress_check`` fixture:

marker keywords -> case and thresholds -> gate plan (thresholds, policy, baselines; built once)
-> run the case under the plan's timing limits -> the plan's verdict -> stash, warn, fail.

``plugin.py`` only registers the fixture. Loading this module must not import torch: the runner
is imported when a check is called.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from pytest_compress import extensions
from pytest_compress.baselines import BaselineFileError
from pytest_compress.gates import GatePlan
from pytest_compress.measure.latency import RunSettings
from pytest_compress.results import CaseResult, Verdict
from pytest_compress.session import CompressSession
from pytest_compress.spec import NotApplicable
from pytest_compress.thresholds import Thresholds
from pytest_compress.validate import case_params, fail, marker_kwargs, misuse_in

if TYPE_CHECKING:
    from pytest_compress.fingerprint import Fingerprint


class StaleBaselineWarning(UserWarning):
    """A result better than its baseline beyond tolerance: refresh the baseline."""


# The finished result on its test item; pytest_runtest_makereport moves it onto the report.
RESULT_KEY = pytest.StashKey[CaseResult]()


class CompressCheck:
    """The ``compress_check`` fixture's value: call it to measure, gate and record the case."""

    def __init__(self, item: pytest.Item, session: CompressSession) -> None:
        self._item = item
        self._session = session

    def __call__(self, **overrides: Any) -> CaseResult:
        __tracebackhide__ = True
        item = self._item
        if RESULT_KEY in item.stash:
            fail(f"{item.nodeid}: compress_check() may be called once per test")
        case, thresholds = self._case(overrides)

        s = self._session.settings
        machine = extensions.machine(item.config, s.threads, s.device)
        plan = self._plan(thresholds, machine)
        result = self._run(case, plan, machine)
        verdict = extensions.with_plugin_gates(item, result, thresholds, plan.decide(result))
        if plan.update or plan.update_latency:
            verdict = self._recordable(result, verdict, machine, latency_only=not plan.update)
        result = result.with_verdict(verdict)
        item.stash[RESULT_KEY] = result
        if verdict.stale:
            warnings.warn(StaleBaselineWarning(f"{item.nodeid}: {verdict.notes[-1]}"), stacklevel=2)
        if verdict.status == "fail":
            pytest.fail("; ".join(verdict.reasons), pytrace=False)
        return result

    def _case(self, overrides: dict[str, Any]) -> tuple[dict[str, Any], Thresholds]:
        """Model, method and method_args, and the thresholds: the markers' keywords, then the call's."""
        __tracebackhide__ = True
        nodeid = self._item.nodeid
        try:
            kwargs = {**marker_kwargs(self._item), **overrides}
            case, thresholds = case_params(kwargs, nodeid, self._session.settings.thresholds)
        except pytest.UsageError as exc:
            fail(str(exc))
        missing = [k for k in ("model", "method") if k not in case]
        if missing:
            fail(f"{nodeid}: compress case needs {' and '.join(missing)} (marker or call)")
        return case, thresholds

    def _plan(self, thresholds: Thresholds, machine: Fingerprint) -> GatePlan:
        """The gate plan: thresholds, policy and this case's baselines (none when rewriting them)."""
        __tracebackhide__ = True
        session, nodeid = self._session, self._item.nodeid
        s, store = session.settings, session.baselines
        try:
            quality = None if s.update else store.quality(nodeid)
            latency = None if s.update or s.update_latency else store.latency(nodeid, machine)
        except BaselineFileError as exc:
            fail(f"baseline error: {exc}")
        return GatePlan(
            thresholds,
            s.policy,
            quality=quality,
            latency=latency,
            quality_where=session.display_path(store.quality_path(nodeid)),
            latency_where=session.display_path(store.latency_path(machine)),
            update=s.update,
            update_latency=s.update_latency,
            nodeid=nodeid,
        )

    def _run(self, case: dict[str, Any], plan: GatePlan, machine: Fingerprint) -> CaseResult:
        """Measure the case; timing stops once the plan's speedup limits are settled. Recording a
        baseline runs the extra draws too."""
        __tracebackhide__ = True
        from pytest_compress.runner import run_case, run_draws

        session, nodeid = self._session, self._item.nodeid
        s = session.settings
        run = RunSettings(
            threads=s.threads,
            device=s.device,
            latency_budget_s=s.latency_budget_s,
            confidence=s.policy.confidence,
            latency_limits=plan.speedup_limits,
            memory=s.memory or plan.thresholds.max_peak_memory_bytes is not None,
        )
        if plan.update or plan.update_latency:
            # Recording a baseline: spend the whole budget on every draw (no early stop once a limit
            # is settled), so the recorded run-to-run spread is the machine's, not a few pairs' noise.
            run = dataclasses.replace(run, latency_target_width=0.0)
        args = {"model": case["model"], "method": case["method"], "method_args": case.get("method_args")}
        try:
            result = run_case(session.models(), test_id=nodeid, settings=run, machine=machine, **args)
            if plan.update and s.draws > 1:
                draws = run_draws(session.models(), s.draws, test_id=nodeid, settings=run, machine=machine, **args)
                result = result.with_draws(draws)
        except NotApplicable as exc:
            pytest.skip(f"{case['method']} does not apply to {case['model']}: {exc}")
        except Exception as exc:
            misuse = misuse_in(exc)
            if misuse is None:
                raise
            fail(str(misuse))
        return result

    def _recordable(self, result: CaseResult, verdict: Verdict, machine: Fingerprint, latency_only: bool) -> Verdict:
        """Recording: what the baseline store would refuse to stage fails this test, by name."""
        if "non-finite" in verdict.failed_gates:
            return verdict  # already failed, and never recorded
        try:
            self._session.baselines.check(result, self._item.nodeid, machine, latency_only)
        except BaselineFileError as exc:
            return dataclasses.replace(
                verdict,
                status="fail",
                failed_gates=(*verdict.failed_gates, "baseline-unrecordable"),
                reasons=(*verdict.reasons, str(exc)),
            )
        return verdict
