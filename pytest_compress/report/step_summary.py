"""The GitHub Actions job summary: when ``GITHUB_STEP_SUMMARY`` names a file, the markdown report
(the text ``--compress-report=md:PATH`` writes) is appended to it at the end of the run.

Appended, never rewritten: other steps of the job write to the same file. A run that measured no
compression case adds nothing, so installing the plugin does not litter every job's summary.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_compress.report.rows import Row
from pytest_compress.report.writers import REPORTERS

ENV = "GITHUB_STEP_SUMMARY"
TITLE = "### pytest-compress"


def summary_path(environ: Mapping[str, str] | None = None) -> Path | None:
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    return Path(value) if value else None


def append_step_summary(rows: Sequence[Row], header: Sequence[str], path: Path) -> None:
    """Append a title and the markdown report to ``path`` (created when missing)."""
    text = REPORTERS.get("md")(rows, header)
    with path.open("a", encoding="utf-8") as f:
        # A blank line first: what the previous step wrote may not end its last paragraph.
        f.write(f"\n{TITLE}\n\n{text}")
