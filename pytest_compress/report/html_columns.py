"""pytest-html integration: its results table gets the case's size reduction, metric drop (with
its interval) and speedup (with its interval), the cells of the markdown table.

Registered by ``plugin.pytest_configure`` only when pytest-html is loaded, so its hooks never
run, and this module is never imported, without it. The result is read from the test report's
``user_properties`` (where ``pytest_runtest_makereport`` put it), so it works under xdist too.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pytest_compress.report.rows import HEADERS, build_row, cells

# (pytest-html column type, header text, column of the markdown table it copies)
COLUMNS = (
    ("compressSmaller", "smaller", "smaller"),
    ("compressDrop", "metric drop", "drop"),
    ("compressSpeedup", "speedup", "speedup"),
)
FIRST = 2  # after pytest-html's Result and Test columns


class PytestHtmlColumns:
    """pytest-html's ``pytest_html_results_table_header`` / ``_row`` hooks, as a plugin object."""

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for i, (kind, title, _) in enumerate(COLUMNS):
            cells.insert(FIRST + i, f'<th class="sortable" data-column-type="{kind}">{escape(title)}</th>')

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        values = row_cells(report)
        for i, ((kind, _, _), text) in enumerate(zip(COLUMNS, values, strict=True)):
            cells.insert(FIRST + i, f'<td class="col-{kind}">{escape(text)}</td>')


def row_cells(report: Any) -> tuple[str, ...]:
    """The three cells for a test report; ``-`` where it carries no compression result (another
    test, or the setup/teardown phase)."""
    from pytest_compress.session import result_from_properties

    result = result_from_properties(list(getattr(report, "user_properties", ())))
    if result is None:
        return ("-",) * len(COLUMNS)
    row = cells(build_row(result))
    return tuple(row[HEADERS.index(col)] for _, _, col in COLUMNS)
