"""The ``csv`` report format: one line per case, for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pytest_compress as pc

COLUMNS = ("test_id", "model", "method", "verdict", "size.reduction", "metric.drop")


@pc.register_reporter("csv")
def csv_report(rows: Sequence[pc.Row], header: Sequence[str]) -> str:
    """Test id, model, method, verdict, size reduction and metric drop of every case."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        q = row.to_dict()["measurements"]
        writer.writerow(
            [row.test_id, row.model, row.method, row.verdict, q["size.reduction"]["value"], q["metric.drop"]["value"]]
        )
    return out.getvalue()
