"""What loading pytest-compress costs at start-up: ``pytest --help`` with the plugin against
``pytest --help -p no:compress`` (the same pytest, every other installed plugin loaded alike).

Each run is a fresh interpreter in an empty folder (no conftest, no ini), timed wall-clock from
start to exit, and its CPU time (user + system), which a busy machine inflates less than wall
time. The two commands alternate (with, without, with, ...) so drift in the machine's load hits
both alike; the table gives each one's median, the difference of the medians and, as its spread,
the interquartile range of the paired differences. The README's claim: the plugin adds at most
0.3 s.

    python bench/help_load_time.py --runs 21 --out reports/help_load_time.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402

LIMIT_S = 0.3  # the budget for the plugin's start-up cost
WITH = ("--help",)
WITHOUT = ("--help", "-p", "no:compress")


def one_run(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: the child's user + system time, which a busy machine inflates less)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} exited {done.returncode}:\n{done.stderr.decode()}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def loaded(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> bool:
    """Whether the plugin's options are in that command's help: proves which side is which."""
    out = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True).stdout
    return b"--compress-report" in out


def measure(runs: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        if not loaded(WITH, cwd, env) or loaded(WITHOUT, cwd, env):
            raise SystemExit("the plugin is not loaded by `pytest --help` (or not unloaded by -p no:compress)")
        one_run(WITH, cwd, env)  # warm the OS file cache for both
        one_run(WITHOUT, cwd, env)
        with_runs, without_runs = [], []
        for _ in range(runs):
            with_runs.append(one_run(WITH, cwd, env))
            without_runs.append(one_run(WITHOUT, cwd, env))
    rows = [_row("wall", [w for w, _ in with_runs], [w for w, _ in without_runs])]
    rows.append(_row("CPU (user + sys)", [c for _, c in with_runs], [c for _, c in without_runs]))
    return [
        f"`pytest --help`, {runs} runs of each command, interleaved; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at the end; "
        f"`python bench/help_load_time.py --runs {runs}`",
        "",
        "| time | with pytest-compress (median) | `-p no:compress` (median) | added by the plugin | "
        "paired differences' IQR |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _row(kind: str, with_s: list[float], without_s: list[float]) -> str:
    diffs = sorted(a - b for a, b in zip(with_s, without_s, strict=True))
    q1, _, q3 = statistics.quantiles(diffs, n=4) if len(diffs) >= 2 else (diffs[0], 0.0, diffs[0])
    added = statistics.median(with_s) - statistics.median(without_s)
    verdict = "within" if added <= LIMIT_S else "OVER"
    return (
        f"| {kind} | {statistics.median(with_s):.3f} s | {statistics.median(without_s):.3f} s | "
        f"{added:+.3f} s ({verdict} {LIMIT_S} s) | {q1:+.3f} .. {q3:+.3f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (default 21)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    emit(measure(args.runs), args.out)


if __name__ == "__main__":
    main()
