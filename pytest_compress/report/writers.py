"""Report formats by name: ``--compress-report=NAME:PATH`` writes what the format named ``NAME``
renders from the finished rows. ``json`` and ``md`` are built in (``render.py``), ``html``
(``html.py``) and ``benchmark-json`` (``benchmark_json.py``); ``term`` names the terminal summary.
Third parties add formats with :func:`register_reporter`, the
``pytest_compress_report_formats`` hook or a ``pytest_compress.reporters`` entry point.

Torch-free, like every part of reporting: a format only formats rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from pytest_compress.registries import Current
from pytest_compress.registry import decorator
from pytest_compress.report.rows import Row


class ReportWriter(Protocol):
    """``write(rows, header) -> text``: the whole file's content, written atomically by the plugin."""

    def __call__(self, rows: Sequence[Row], header: Sequence[str]) -> str: ...


TERM = "term"  # the terminal summary: a name no other format may take

# name -> (module that registers it, summary); read by the registry on first use.
BUILTIN: dict[str, tuple[str, str]] = {
    "json": ("pytest_compress.report.render", "every number with its unit, as JSON"),
    "md": ("pytest_compress.report.render", "the comparison table, as GitHub markdown"),
    "html": ("pytest_compress.report.html", "one self-contained page: sortable table, Pareto plots"),
    TERM: ("pytest_compress.report.render", "the comparison table, as printed in the terminal"),
    "benchmark-json": ("pytest_compress.report.benchmark_json", "timing samples in pytest-benchmark's JSON schema"),
}

REPORTERS: Current[ReportWriter] = Current("reporters")  # the current session's (registries.py)


def register_reporter(name: str, *, override: bool = False) -> Callable[[ReportWriter], ReportWriter]:
    """Register ``write(rows, header) -> str`` as the report format ``name``.

    ``rows`` are :class:`~pytest_compress.report.rows.Row` objects, ``row.to_dict()`` is the
    row as the JSON report writes it (amended by ``pytest_compress_json_row``). A name already
    registered (``json``, ``md``, ``term`` or another module's) is an error naming both, unless
    ``override=True``.

    Example (conftest.py)::

        @pytest_compress.register_reporter("csv")
        def csv_report(rows, header):
            lines = ["test_id,method,verdict"]
            lines += [f"{r.test_id},{r.method},{r.verdict}" for r in rows]
            return "\\n".join(lines) + "\\n"

    then ``pytest --compress-report=csv:reports/compress.csv``.
    """
    return decorator(REPORTERS, name, lambda fn: fn, override=override)
