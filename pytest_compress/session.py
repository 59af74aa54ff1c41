"""The run's state: settings, baseline store, collected results. One object in ``config.stash``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_compress import atomic, extensions, progress
from pytest_compress.baselines import BaselineFileError, BaselineStore
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.options import Settings
from pytest_compress.report import render, step_summary
from pytest_compress.report.rows import Row, build_rows
from pytest_compress.report.writers import REPORTERS
from pytest_compress.results import CaseResult
from pytest_compress.stale import Collection, report_lines, stale_entries

if TYPE_CHECKING:
    from pytest_compress.models import ModelStore


@dataclass(eq=False)  # a plugin object: pluggy needs it hashable by identity
class CompressSession:
    """Run state plus the run-level hooks; registered as a plugin object by ``pytest_configure``."""

    config: pytest.Config
    settings: Settings
    baselines: BaselineStore
    results: list[CaseResult] = field(default_factory=list)
    collection: Collection = field(default_factory=Collection)  # which modules ran in full (stale.py)
    _models: ModelStore | None = None
    _rows: tuple[int, list[Row]] | None = None  # (results they were built from, rows)
    _worker_lines: list[str] = field(default_factory=list)  # an xdist worker's progress, not yet sent

    @classmethod
    def create(cls, config: pytest.Config, settings: Settings) -> CompressSession:
        store = BaselineStore(
            settings.baseline_dir,
            confidence=settings.policy.confidence,
            latency_tolerance=settings.thresholds.latency_tolerance,
        )
        return cls(config=config, settings=settings, baselines=store)

    def display_path(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.config.rootpath))
        except ValueError:
            return str(path)

    # -- hooks ------------------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.is_worker():  # a worker's progress lines, printed as its report arrives
            for line in progress_from_properties(report.user_properties):
                progress.forward(line)
        if report.when == "call":
            result = result_from_properties(report.user_properties)
            if result is not None:
                self.record(report.nodeid, result)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.collection.deselected(item.nodeid for item in items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.collection.collect_report(report.nodeid, report.outcome)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # After pytest_collection_modifyitems: -k / -m / --lf have deselected by now.
        config = self.config
        nodeids = (i.nodeid for i in session.items)
        self.collection.finish(nodeids, config.args, config.invocation_params.dir, config.rootpath)
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller judges stale entries (stale.py)
            workeroutput[COLLECTION] = self.collection.to_dict()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist's controller, as a worker finishes: what that worker collected."""
        output = getattr(node, "workeroutput", None) or {}
        if COLLECTION in output:
            self.collection.merge(output[COLLECTION])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker():  # the controller writes
            return
        failed = False
        stale = self.stale_entries(session)
        if self.settings.update or self.settings.update_latency:
            try:  # (a latency-only refresh prunes nothing: stale entries are only reported)
                for path in self.baselines.flush(prune=stale if self.settings.update else None):
                    progress.report(f"baseline written: {self.display_path(path)}")
            except (BaselineFileError, OSError) as exc:
                # Nothing was rewritten over an unreadable file; say so instead of a traceback.
                progress.report(f"ERROR: baselines not written: {exc}")
                failed = True
                stale = {}
        for line in report_lines(stale, self.display_path, removed=self.settings.update):
            progress.report(line)
        try:
            for path in self.write_reports():
                progress.report(f"report written: {self.display_path(path)}")
        except OSError as exc:
            progress.report(f"ERROR: report not written: {exc}")
            failed = True
        summary = step_summary.summary_path()
        if summary is not None and self.results:
            try:
                step_summary.append_step_summary(self.rows(), self.header(), summary)
            except OSError as exc:
                progress.report(f"ERROR: {step_summary.ENV} not written: {exc}")
                failed = True
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.want_terminal():
            terminalreporter.write_sep("=", "pytest-compress report")
            for line in render.terminal_lines(self.rows(), self.header()):
                terminalreporter.write_line(line)

    def is_worker(self) -> bool:
        """An xdist worker: its results, collection and progress lines go to the controller."""
        return hasattr(self.config, "workerinput")

    def progress_output(self, terminal: progress.Output) -> progress.Output:
        """Where progress lines go: the terminal; on an xdist worker (whose output nobody sees)
        plain lines into a buffer that the next setup or call report carries to the controller
        (``take_progress``)."""
        if not self.is_worker():
            return terminal
        worker = self.config.workerinput.get("workerid", "worker")  # type: ignore[attr-defined]
        tag = f"{progress.PREFIX}[{worker}] "
        return progress.SinkLines(lambda line: self._worker_lines.append(line.replace(progress.PREFIX, tag, 1)))

    def take_progress(self) -> list[str]:
        lines, self._worker_lines = self._worker_lines, []
        return lines

    def stale_entries(self, session: pytest.Session) -> dict[Path, list[str]]:
        """Entries of the modules this run collected in full whose tests no longer exist; none
        after an interrupted or broken run (its collection proves nothing)."""
        if session.exitstatus in (
            pytest.ExitCode.INTERRUPTED,
            pytest.ExitCode.INTERNAL_ERROR,
            pytest.ExitCode.USAGE_ERROR,
        ):
            return {}
        try:
            return stale_entries(self.baselines, self.collection.complete())
        except OSError as exc:
            progress.report(f"ERROR: stale baseline entries not checked: {exc}")
            return {}

    def models(self) -> ModelStore:
        """Trained reference models for this process; torch is imported here, on first use."""
        if self._models is None:
            from pytest_compress.cache import ModelCache
            from pytest_compress.models import ModelStore

            self._models = ModelStore(
                ModelCache(self.settings.cache_dir), device=self.settings.device, threads=self.settings.threads
            )
        return self._models

    def record(self, nodeid: str, result: CaseResult) -> None:
        """Called on the controller for every finished case (results ride on the report under xdist)."""
        self.results.append(result)
        if not recordable(result):
            return  # never recorded: the failed test says why
        if self.settings.update or self.settings.update_latency:
            fp = Fingerprint(**result.fingerprint) if result.fingerprint else None
            try:
                self.baselines.stage(result, nodeid, fp, latency_only=not self.settings.update)
            except BaselineFileError as exc:  # refused by the schema: said once, nothing staged
                progress.report(f"ERROR: baseline not recorded: {exc}")

    def header(self) -> list[str]:
        s = self.settings
        return header_lines(self.results, s.threads, s.device, s.update)

    def rows(self) -> list[Row]:
        """The finished rows, their JSON form amended by plugins (``pytest_compress_json_row``, once
        per row: the reports and the terminal summary share them)."""
        if self._rows is None or self._rows[0] != len(self.results):
            self._rows = (len(self.results), extensions.amended_rows(self.config, build_rows(self.results)))
        return self._rows[1]

    def write_reports(self) -> list[Path]:
        written = []
        rows, header = self.rows(), self.header()
        for target in self.settings.reports:
            if target.path is None:
                continue
            try:
                write = REPORTERS.get(target.format)  # a plugin's format is imported here, on first use
                text = write(rows, header)
            except Exception as exc:  # a plugin's format: said as a failed report, not a traceback
                raise OSError(f"report format {target.format!r} failed: {type(exc).__name__}: {exc}") from exc
            if not isinstance(text, str):
                raise OSError(f"report format {target.format!r} returned {type(text).__name__}, expected str")
            path = Path(target.path)
            atomic.write_text(path, text)
            written.append(path)
        if self.settings.plots_dir is not None:
            written += self.write_plots(rows, self.settings.plots_dir)
        return written

    @staticmethod
    def write_plots(rows: list[Row], directory: Path) -> list[Path]:
        from pytest_compress.report import plots  # matplotlib, only when plots are asked for

        if not plots.available():
            raise OSError(f"--compress-plots={directory}: {plots.MISSING}")
        return plots.write_plots(rows, directory)

    def want_terminal(self) -> bool:
        return any(t.format == "term" for t in self.settings.reports)


def header_lines(results: list[CaseResult], threads: object, device: str, update: bool) -> list[str]:
    """The reports' header: cases, where the models came from, how and where they were timed."""
    by_model: dict[str, str] = {}
    for r in results:
        # "trained" wins: a model trained in any process of this run was not reused.
        if by_model.get(r.model) != "trained":
            by_model[r.model] = r.model_source
    sources = list(by_model.values())
    fps = {Fingerprint(**r.fingerprint).slug for r in results if r.fingerprint}
    return [
        f"pytest-compress: {len(results)} case(s); models: {sources.count('cache')} reused from cache, "
        f"{sources.count('trained')} trained, {sources.count('built')} untrained",
        f"threads={threads} device={device} machine={', '.join(sorted(fps)) or '-'}"
        + ("  [baselines updated]" if update else ""),
    ]


def recordable(result: CaseResult) -> bool:
    """Whether a baseline update records ``result`` (a non-finite or refused one fails its test instead)."""
    return not {"non-finite", "baseline-unrecordable"} & set(result.verdict.failed_gates)


def result_from_properties(properties: list[tuple[str, Any]]) -> CaseResult | None:
    for key, value in properties:
        if key == PROPERTY:
            return CaseResult.from_dict(value)
    return None


def progress_from_properties(properties: list[tuple[str, Any]]) -> list[str]:
    return [line for key, value in properties if key == PROGRESS for line in value]


PROPERTY = "pytest_compress_result"
PROGRESS = "pytest_compress_progress"  # an xdist worker's progress lines, on its setup / call reports
COLLECTION = "pytest_compress_collection"  # an xdist worker's collection, in its workeroutput
