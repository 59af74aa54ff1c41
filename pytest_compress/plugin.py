"""pytest-compress: hooks, the ``compress`` marker and the ``compress_check`` fixture.

Loading this module must not import torch (``pytest --help`` stays fast); everything heavy is
imported inside the fixture, on first use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from pytest_compress import methods, options, progress, zoo
from pytest_compress.baselines import BaselineFileError
from pytest_compress.gates import decide, latency_limits
from pytest_compress.results import CaseResult
from pytest_compress.session import PROPERTY, CompressSession
from pytest_compress.spec import NotApplicable
from pytest_compress.thresholds import Thresholds
from pytest_compress.validate import MARKER, case_params, check_markers, fail, fail_bad_marker, marker_kwargs, misuse_in


class StaleBaselineWarning(UserWarning):
    """A result better than its baseline beyond tolerance: refresh the baseline."""


SESSION_KEY = pytest.StashKey[CompressSession]()
RESULT_KEY = pytest.StashKey[CaseResult]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(model=NAME, method=NAME, method_args={{...}}, <threshold>=VALUE, ...): a model-compression "
        f"case for the compress_check fixture; thresholds: {', '.join(Thresholds.names())}",
    )
    methods.declare_builtins()
    zoo.declare_builtins()
    session = CompressSession.create(config, options.read_settings(config))
    config.stash[SESSION_KEY] = session
    # The session object carries the run-level hooks (collect results, write, summarise).
    config.pluginmanager.register(session, "compress-session")
    progress.set_sink(_terminal_sink(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    progress.set_sink(None)
    session = config.stash.get(SESSION_KEY, None)
    if session is not None and config.pluginmanager.is_registered(session):
        config.pluginmanager.unregister(session)


def _terminal_sink(config: pytest.Config):  # noqa: ANN202
    def sink(line: str) -> None:
        tr = config.pluginmanager.getplugin("terminalreporter")
        capman = config.pluginmanager.getplugin("capturemanager")
        if tr is None:
            print(line, file=sys.stderr, flush=True)
            return
        ctx = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
        with ctx:
            tr.write_line(line)

    return sink


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    check_markers(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    fail_bad_marker(item)


class CompressCheck:
    """The ``compress_check`` fixture's value: call it to measure, gate and record the case."""

    def __init__(self, item: pytest.Item, session: CompressSession) -> None:
        self._item = item
        self._session = session

    def __call__(self, **overrides: Any) -> CaseResult:
        __tracebackhide__ = True
        item, session = self._item, self._session
        if RESULT_KEY in item.stash:
            fail(f"{item.nodeid}: compress_check() may be called once per test")
        try:
            kwargs = {**marker_kwargs(item), **overrides}
            case, thresholds = case_params(kwargs, item.nodeid, session.settings.thresholds)
        except pytest.UsageError as exc:
            fail(str(exc))
        missing = [k for k in ("model", "method") if k not in case]
        if missing:
            fail(f"{item.nodeid}: compress case needs {' and '.join(missing)} (marker or call)")

        from pytest_compress.runner import RunSettings, run_case, run_draws, this_machine

        s = session.settings
        store = session.baselines
        fp = this_machine(s.threads, s.device)
        try:
            quality = None if s.update else store.quality(item.nodeid)
            latency = None if s.update else store.latency(item.nodeid, fp)
        except BaselineFileError as exc:
            fail(f"baseline error: {exc}")
        run = RunSettings(
            threads=s.threads,
            device=s.device,
            latency_budget_s=s.latency_budget_s,
            confidence=s.policy.confidence,
            latency_limits=latency_limits(thresholds, latency, s.policy),
        )
        if s.update:
            # Recording a baseline: spend the whole budget on every draw (no early stop once a limit
            # is settled), so the recorded run-to-run spread is the machine's, not a few pairs' noise.
            run = dataclasses.replace(run, latency_limits=(), latency_target_width=0.0)
        case_args = {"model": case["model"], "method": case["method"], "method_args": case.get("method_args")}
        try:
            result = run_case(session.models(), test_id=item.nodeid, settings=run, machine=fp, **case_args)
            if s.update and s.draws > 1:
                draws = run_draws(session.models(), s.draws, test_id=item.nodeid, settings=run, machine=fp, **case_args)
                result = result.with_draws(draws)
        except NotApplicable as exc:
            pytest.skip(f"{case['method']} does not apply to {case['model']}: {exc}")
        except Exception as exc:
            if misuse_in(exc) is None:
                raise
            fail(str(misuse_in(exc)))
        verdict = decide(
            result,
            thresholds,
            quality=quality,
            latency=latency,
            quality_where=session.display_path(store.quality_path(item.nodeid)),
            latency_where=session.display_path(store.latency_path(fp)),
            update=s.update,
            nodeid=item.nodeid,
            policy=s.policy,
        )
        if s.update and "non-finite" not in verdict.failed_gates:
            try:
                store.check(result, item.nodeid, fp)  # what stage() will refuse, refused here by name
            except BaselineFileError as exc:
                verdict = dataclasses.replace(
                    verdict,
                    status="fail",
                    failed_gates=(*verdict.failed_gates, "baseline-unrecordable"),
                    reasons=(*verdict.reasons, str(exc)),
                )
        result = result.with_verdict(verdict)
        item.stash[RESULT_KEY] = result
        if verdict.stale:
            warnings.warn(StaleBaselineWarning(f"{item.nodeid}: {verdict.notes[-1]}"), stacklevel=2)
        if verdict.status == "fail":
            pytest.fail("; ".join(verdict.reasons), pytrace=False)
        return result


@pytest.fixture
def compress_check(request: pytest.FixtureRequest) -> CompressCheck:
    """Measure a compression case (model + method from the ``compress`` marker or call keywords),
    gate it against thresholds and baselines, and fail this test with a one-line reason."""
    return CompressCheck(request.node, request.config.stash[SESSION_KEY])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == "call" and RESULT_KEY in item.stash:
        # On the report, the result survives the trip from an xdist worker to the controller.
        report.user_properties.append((PROPERTY, item.stash[RESULT_KEY].to_dict()))
    return report
