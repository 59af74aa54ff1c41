"""The calling side of the extension API (``hookspecs.py``): where the plugin asks plugins.

- ``configure``: entry points declared, ``pytest_compress_register`` and
  ``pytest_compress_report_formats`` called, ``--compress-report`` formats checked;
- ``machine``: the fingerprint plus ``pytest_compress_fingerprint``'s facts;
- ``with_plugin_gates``: ``pytest_compress_gates`` folded into a verdict;
- ``amended_rows``: ``pytest_compress_json_row`` applied to the finished rows.

Loading this module must not import torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_compress import entrypoints
from pytest_compress.report.writers import REPORTERS, ReportWriter
from pytest_compress.results import CaseResult, Verdict
from pytest_compress.spec import (
    MethodConfig,
    Metric,
    ModelSpec,
    NoConfig,
    register_method,
    register_metric,
    register_model,
)
from pytest_compress.thresholds import Gate, Thresholds

if TYPE_CHECKING:
    from pytest_compress.fingerprint import Fingerprint
    from pytest_compress.options import ReportTarget
    from pytest_compress.report.rows import Row


class Registrar:
    """What ``pytest_compress_register`` receives: the registration decorators as calls. A clash
    is a ``pytest.UsageError`` naming both registrations."""

    def model(self, name: str, spec: Callable[[], ModelSpec], *, override: bool = False) -> None:
        """Register ``spec`` (a function returning a :class:`ModelSpec`) as the model ``name``."""
        _usage(lambda: register_model(name, override=override)(spec))

    def method(
        self, name: str, apply: Callable[..., Any], *, config: type[MethodConfig] = NoConfig, override: bool = False
    ) -> None:
        """Register ``apply(model, config, ctx)`` as the method ``name`` with options ``config``."""
        _usage(lambda: register_method(name, config, override=override)(apply))

    def metric(self, metric: Metric, *, override: bool = False) -> None:
        """Register ``metric`` under ``metric.name`` (a ModelSpec may then name it)."""
        _usage(lambda: register_metric(metric, override=override))


def _usage(register: Callable[[], Any]) -> None:
    try:
        register()
    except (ValueError, TypeError) as exc:
        raise pytest.UsageError(f"pytest_compress_register: {exc}") from None


def configure(config: pytest.Config, reports: Sequence[ReportTarget]) -> None:
    """Start-up: installed packages' names declared (nothing imported), plugins' registrations and
    report formats added, then every ``--compress-report`` format must exist."""
    entrypoints.load()
    config.hook.pytest_compress_register.call_historic(kwargs={"register": Registrar(), "config": config})
    for formats in config.hook.pytest_compress_report_formats(config=config):
        add_report_formats(formats or {})
    for target in reports:
        if target.format not in REPORTERS:
            raise pytest.UsageError(
                f"--compress-report={target.format}:{target.path}: unknown report format {target.format!r}; "
                f"formats: {', '.join(REPORTERS.names())} (a plugin adds more: pytest_compress_report_formats, "
                f"register_reporter, or a {entrypoints.REPORTERS_GROUP} entry point)"
            )


def add_report_formats(formats: Mapping[str, ReportWriter]) -> None:
    for name, write in formats.items():
        if not callable(write):
            raise pytest.UsageError(
                f"pytest_compress_report_formats: format {name!r} must be write(rows, header) -> str, got {write!r}"
            )
        try:
            REPORTERS.add(name, write)
        except ValueError as exc:
            raise pytest.UsageError(f"pytest_compress_report_formats: {exc}") from None


def machine(config: pytest.Config, threads: int, device: str) -> Fingerprint:
    """This process's latency-baseline key, with the facts plugins add (imports torch)."""
    from pytest_compress.runner import this_machine

    fp = this_machine(threads, device)
    extra: dict[str, Any] = {}
    for facts in config.hook.pytest_compress_fingerprint(config=config, fingerprint=fp):
        extra.update(facts or {})
    return dataclasses.replace(fp, extra=tuple(extra.items())) if extra else fp


def with_plugin_gates(item: pytest.Item, result: CaseResult, thresholds: Thresholds, verdict: Verdict) -> Verdict:
    """The verdict with the gates ``pytest_compress_gates`` returned: each is a checked limit, and a
    failed one fails the case with its message."""
    gates: list[Gate] = []
    # item.ihook: a conftest in a sub-folder gates only the tests below it.
    for returned in item.ihook.pytest_compress_gates(item=item, result=result, thresholds=thresholds):
        found = [returned] if isinstance(returned, Gate) else list(returned or ())
        bad = [g for g in found if not isinstance(g, Gate)]
        if bad:
            raise TypeError(f"pytest_compress_gates must return pytest_compress.Gate objects, got {bad[0]!r}")
        gates.extend(found)
    if not gates:
        return verdict
    failed = [g for g in gates if not g.ok]
    verdict = dataclasses.replace(verdict, limits=(*verdict.limits, *(g.name for g in gates)))
    if not failed:
        return verdict
    return dataclasses.replace(
        verdict,
        status="fail",
        failed_gates=(*verdict.failed_gates, *(g.name for g in failed)),
        reasons=(*verdict.reasons, *(f"{g.name}: {g.message}" for g in failed)),
    )


def amended_rows(config: pytest.Config, rows: Iterable[Row]) -> list[Row]:
    """Each row with its JSON form as ``pytest_compress_json_row`` left it."""
    out = []
    for row in rows:
        data = row.to_dict()
        config.hook.pytest_compress_json_row(config=config, row=row, data=data)
        out.append(dataclasses.replace(row, amended=data))
    return out
