"""Comparing two runs' JSON reports and baseline files, timings aside (xdist and shard-merge tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# details that are wall-clock timings of the run, not results: they differ between any two runs.
TIMING_DETAILS = {"compress_seconds", "train_seconds", "timing_lock"}
# Latency baseline fields that are timings.
TIMING_FIELDS = {"speedup", "speedups", "reference_ms", "compressed_ms", "pairs"}


def comparable_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON report's rows without timings: what two runs of the same cases must agree on."""
    out = []
    for row in doc["rows"]:
        row = dict(row)
        row["details"] = {k: v for k, v in row["details"].items() if k not in TIMING_DETAILS}
        row["measurements"] = {k: v for k, v in row["measurements"].items() if not k.startswith("latency.")}
        out.append(row)
    return out


def same_latency_files(a: Path, b: Path) -> None:
    """The same latency files (machines), with the same entries, fields and artifacts; timings aside."""
    files_a = sorted(p.name for p in (a / "latency").glob("*.json"))
    assert files_a == sorted(p.name for p in (b / "latency").glob("*.json"))
    assert files_a
    for name in files_a:
        da, db = (json.loads((d / "latency" / name).read_text()) for d in (a, b))
        assert da["fingerprint"] == db["fingerprint"]
        assert sorted(da["cases"]) == sorted(db["cases"])
        for key, entry in da["cases"].items():
            other = db["cases"][key]
            assert set(entry) == set(other), key
            assert {k: v for k, v in entry.items() if k not in TIMING_FIELDS} == {
                k: v for k, v in other.items() if k not in TIMING_FIELDS
            }, key
            assert len(entry.get("speedups", ())) == len(other.get("speedups", ())), key
