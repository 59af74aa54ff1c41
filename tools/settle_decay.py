"""How long a model takes to recover after the *other* model ran: the carry-over that the
latency sampler's settling calls wait out (``pytest_compress/measure/latency.py``).

Runs the named suite cases through pytest; right after each case's own timing, with the same
two callables the case timed, it runs the reference 3 times, then the compressed model
``--calls`` times, each call timed alone (and the other way round), ``--reps`` times over, and
prints the median time of each call after the switch next to the steady state (the median of the
last half). Nothing about the product is re-implemented: the callables are the ones
``time_workload`` times, from the real models.

    python tools/settle_decay.py 'suites/test_vision.py::test_int8_static'

As a pytest plugin (``-p tools.settle_decay``, what the script does) it writes JSON lines to the
file named by ``SETTLE_DECAY_OUT``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = "SETTLE_DECAY_OUT"


def after_switch(first: Callable[[], object], second: Callable[[], object], calls: int, reps: int) -> list[float]:
    """Median ms of the 1st, 2nd, ... call of ``second`` right after 3 calls of ``first``."""
    times: list[list[float]] = [[] for _ in range(calls)]
    for _ in range(reps):
        for _ in range(3):
            first()
        for i in range(calls):
            start = time.perf_counter()
            second()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) * 1e3 for t in times]


def pytest_configure(config) -> None:  # noqa: ANN001
    """Wrap the sampler so each case's callables are measured right after its own timing."""
    import pytest_compress.measure.latency as latency

    out = os.environ.get(OUT)
    if not out:
        return
    calls, reps = int(os.environ.get("SETTLE_DECAY_CALLS", "12")), int(os.environ.get("SETTLE_DECAY_REPS", "25"))
    original = latency.interleaved

    def interleaved(reference, compressed, **kwargs):  # noqa: ANN001, ANN003, ANN202
        timing = original(reference, compressed, **kwargs)
        enabled = gc.isenabled()
        gc.disable()
        try:
            row = {
                "case": os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0],
                "compressed_after_reference": after_switch(reference, compressed, calls, reps),
                "reference_after_compressed": after_switch(compressed, reference, calls, reps),
                "speedup": timing.speedup,
            }
        finally:
            if enabled:
                gc.enable()
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        return timing

    latency.interleaved = interleaved


def table(rows: list[dict], shown: int = 6) -> str:
    head = " | ".join(f"call {i + 1}" for i in range(shown))
    lines = [f"| case | model (after the other) | {head} | steady (ms) |", "|---" * (shown + 3) + "|"]
    for row in rows:
        for label, key in (("compressed", "compressed_after_reference"), ("reference", "reference_after_compressed")):
            ms = row[key]
            steady = statistics.median(ms[len(ms) // 2 :])
            cells = " | ".join(f"{v:.3f}" for v in ms[:shown])
            lines.append(f"| `{row['case'].split('::')[-1]}` | {label} | {cells} | {steady:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodeids", nargs="+")
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--reps", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.jsonl"
        env = {**os.environ, OUT: str(out), "SETTLE_DECAY_CALLS": str(args.calls), "SETTLE_DECAY_REPS": str(args.reps)}
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *args.nodeids,
            "-p",
            "tools.settle_decay",
            "-p",
            "no:cacheprovider",
            "-q",
        ]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if not out.exists():
            sys.exit(f"no case was timed (pytest exit {done.returncode}):\n{done.stdout[-2000:]}")
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    print(table(rows))


if __name__ == "__main__":
    main()
