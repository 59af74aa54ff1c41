"""``--compress-report=benchmark-json:PATH``: our timings in pytest-benchmark's JSON schema, so
``pytest-benchmark compare PATH`` and the dashboards that read its files can show them.

One benchmark per timed model per workload per case: ``<test>::<workload>::reference`` and
``::compressed``, grouped by case and workload (``group``) so ``compare`` puts each pair side by
side. What the fields are, and where they come from:

- ``stats.data``: the measured samples, seconds per call (one sample times ``iterations`` calls
  and is divided by it, as pytest-benchmark does). ``rounds`` is the number of samples, which is
  the number of interleaved pairs. Every other stat (min ... ops, outliers) is computed from
  ``data`` with pytest-benchmark's own definitions (``pytest_benchmark.stats.Stats``), so they
  agree with what its tools recompute.
- ``extra_info``: our numbers for the case: size, metric and drop with its interval, speedup with
  its interval (the gate's paired statistic — the per-model stats above are not paired), verdict.
- ``machine_info``: Python's ``platform`` facts plus our run header; ``cpu`` has only what
  ``platform`` knows (pytest-benchmark fills it from py-cpuinfo, which we don't require).
- ``commit_info``: ``git`` run in the current directory; ``id: "unknown"`` when that fails.

Cases measured without timing (or rows without samples) contribute no benchmark.
Pure Python: pytest-benchmark need not be installed to write the file.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import subprocess
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_compress.report.rows import Row
from pytest_compress.report.writers import register_reporter

NAME = "benchmark-json"
# The pytest-benchmark file version this layout follows (its JSON has a "version" field).
SCHEMA_VERSION = "5.1.0"
# How we time (measure/latency.py), in the place pytest-benchmark records its fixture's options.
OPTIONS = {"timer": "perf_counter", "disable_gc": True, "warmup": True, "interleaved": "ABBA"}


def _quartiles(data: list[float]) -> tuple[float, float]:
    """Q1 and Q3 exactly as pytest-benchmark computes them (Wikipedia's methods 2 and 3)."""
    n = len(data)
    if n == 1:
        return data[0], data[0]
    if n % 2:
        k, q = n // 4, n % 4
        if q == 1:
            return 0.25 * data[k - 1] + 0.75 * data[k], 0.75 * data[3 * k] + 0.25 * data[3 * k + 1]
        return 0.75 * data[k] + 0.25 * data[k + 1], 0.25 * data[3 * k + 1] + 0.75 * data[3 * k + 2]
    return statistics.median(data[: n // 2]), statistics.median(data[n // 2 :])


def stats(samples: Sequence[float], iterations: int) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` block for ``samples`` (seconds per call)."""
    data = list(samples)
    srt = sorted(data)
    n = len(data)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if n > 1 else 0.0
    q1, q3 = _quartiles(srt)
    iqr = q3 - q1
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = sum(1 for v in data if v < low or v > high)
    stddev_outliers = sum(1 for v in data if v < mean - stddev or v > mean + stddev)
    total = sum(data)
    return {
        "min": srt[0],
        "max": srt[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": statistics.median(data),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": srt[0] if n == 1 else srt[bisect_left(srt, low)],
        "hd15iqr": srt[-1] if n == 1 else srt[bisect_right(srt, high) - 1],
        "ops": n / total if total else 0,
        "total": total,
        "data": data,
        "iterations": iterations,
    }


def _extra_info(row: Row, workload: str) -> dict[str, Any]:
    """The case's numbers (dots in names become underscores); the speedup is this workload's, its
    interval only for the forward (the gated one)."""
    q = row.quantities
    info: dict[str, Any] = {"model": row.model, "method": row.method, "workload": workload}
    info |= {"verdict": row.verdict, "metric": row.metric_name, "metric_unit": row.metric_unit}
    info |= {k.replace(".", "_"): v.value for k, v in sorted(q.items()) if k.startswith(("size.", "metric."))}
    if workload == "forward":
        keys = ("speedup", "speedup_ci_low", "speedup_ci_high", "threads", "pairs")
        info |= {k: q[f"latency.{k}"].value for k in keys if f"latency.{k}" in q}
    elif f"latency.{workload}.speedup" in q:
        info["speedup"] = q[f"latency.{workload}.speedup"].value
    info["timing"] = "interleaved reference/compressed pairs (ABBA), gc off; data: seconds per call per sample"
    # JSON has no NaN or Infinity (a failed case's numbers may be either): they become null.
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in info.items()}


def benchmarks(row: Row) -> list[dict[str, Any]]:
    """The pytest-benchmark entries of one case: reference then compressed, per workload."""
    out = []
    name = row.test_id.rpartition("::")[2] or row.test_id
    for s in row.samples:
        for role, data in (("reference", s.reference_s), ("compressed", s.compressed_s)):
            if not data or not all(math.isfinite(v) for v in data):
                continue
            param = f"{s.workload}-{role}"
            out.append(
                {
                    "group": f"{row.test_id} ({s.workload})",
                    "name": f"{name}::{s.workload}::{role}",
                    "fullname": f"{row.test_id}::{s.workload}::{role}",
                    "params": {"model": row.model, "method": row.method, "workload": s.workload, "model_role": role},
                    "param": param,
                    "extra_info": _extra_info(row, s.workload),
                    "options": dict(OPTIONS),
                    "stats": stats(data, s.calls_per_sample),
                }
            )
    return out


def machine_info(header: Sequence[str]) -> dict[str, Any]:
    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"arch_string_raw": platform.machine(), "brand_raw": platform.processor()},
        "pytest_compress": list(header),
    }


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def commit_info(cwd: Path | None = None) -> dict[str, Any]:
    project = (cwd or Path.cwd()).name
    try:
        branch = _git("rev-parse", "--abbrev-ref", "HEAD")
        return {
            "id": _git("rev-parse", "HEAD"),
            "time": _git("show", "-s", "--pretty=format:%cI"),
            "author_time": _git("show", "-s", "--pretty=format:%aI"),
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "project": project,
            "branch": "(detached head)" if branch == "HEAD" else branch,
        }
    except (OSError, subprocess.SubprocessError) as exc:
        return {"id": "unknown", "time": None, "author_time": None, "dirty": False, "project": project,
                "branch": "(unknown)", "error": repr(exc)}  # fmt: skip


@register_reporter(NAME)
def benchmark_json(rows: Sequence[Row], header: Sequence[str]) -> str:
    doc = {
        "machine_info": machine_info(header),
        "commit_info": commit_info(),
        "benchmarks": [b for r in rows for b in benchmarks(r)],
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": SCHEMA_VERSION,
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
