"""Wall time of a pytest selection serially (``-n 0``) and with pytest-xdist (``-n N``), cold and warm.

Cold: a fresh, empty ``--compress-cache-dir`` (every reference model is trained). Warm: the same
command again on the cache the cold run filled. Each of ``-n 0`` and ``-n N`` gets its own cache,
so neither warms the other's. Every run writes a JSON report; the table says whether ``-n N``
gave the very same verdicts as ``-n 0`` and how long its workers waited, in total, for the host's
timing lock (``measure/timing_lock.py``: one process times at a time).

The runs compare against the committed baselines and write none. Timing runs must not share the
machine with other work: run this on an otherwise idle machine.

Usage:
    python bench/xdist_walltime.py [--workers 2] [--out reports/xdist.md] [--dry-run] -- suites/ [-k ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python bench/x.py): make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit  # noqa: E402


def command(selection: list[str], workers: int, cache: Path, report: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", *selection, "-n", str(workers), "-p", "no:cacheprovider", "-q",
        f"--compress-cache-dir={cache}", f"--compress-report=json:{report}",
    ]  # fmt: skip


def run(cmd: list[str], log: Path | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    with open(log or os.devnull, "w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    return time.perf_counter() - start, done.returncode


def verdicts(report: Path) -> dict[str, str]:
    if not report.exists():
        return {}
    return {r["test_id"]: r["verdict"] for r in json.loads(report.read_text())["rows"]}


def lock_wait(report: Path) -> float:
    if not report.exists():
        return 0.0
    rows = json.loads(report.read_text())["rows"]
    return sum(r["details"].get("timing_lock", {}).get("wait_s", 0.0) for r in rows)


def cpu_line() -> str:
    from pytest_compress.fingerprint import cpu_model

    return f"{cpu_model()}, {os.cpu_count()} logical cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="xdist workers of the parallel runs. Default: 2.")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument(
        "--only", choices=("cold", "warm"), default=None, help="run only the cold (or warm) pair; warm needs cold first"
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="keep each run's pytest output and JSON report here")
    parser.add_argument("selection", nargs="+", help="pytest arguments, after --: paths, -k, -m ...")
    args = parser.parse_args()
    selection = [a for a in args.selection if a != "--"]
    with tempfile.TemporaryDirectory(prefix="xdist-walltime-") as tmp:
        root = Path(tmp)
        plan = []  # (label, workers, command, report)
        for workers in (0, args.workers):
            cache = root / f"cache-n{workers}"
            for temp in ("cold",) if args.only == "cold" else ("cold", "warm"):
                report = root / f"{temp}-n{workers}.json"
                plan.append((temp, workers, command(selection, workers, cache, report), report))
        if args.dry_run:
            for temp, workers, cmd, _ in plan:
                print(f"# {temp}, -n {workers}\n{shlex.join(cmd)}")
            return
        seconds: dict[tuple[str, int], tuple[float, int]] = {}
        for temp, workers, cmd, _ in plan:
            print(f"[xdist-walltime] {temp}, -n {workers} ...", flush=True)
            log = None
            if args.log_dir:
                args.log_dir.mkdir(parents=True, exist_ok=True)
                log = args.log_dir / f"{temp}-n{workers}.log"
            seconds[temp, workers] = run(cmd, log)
        reports = {(temp, workers): report for temp, workers, _, report in plan}
        if args.log_dir:  # the JSON reports too (tools/latency_drift.py reads them)
            for report in reports.values():
                if report.exists():
                    (args.log_dir / report.name).write_bytes(report.read_bytes())
        n = args.workers
        only = f" --only {args.only}" if args.only else ""
        lines = [
            f"`python bench/xdist_walltime.py --workers {n}{only} -- {shlex.join(selection)}` on {cpu_line()}:",
            "",
            f"| cache | -n 0 wall | -n {n} wall | -n {n} / -n 0 | same verdicts | timing-lock wait (-n {n}, sum) |",
            "|---|---|---|---|---|---|",
        ]
        for temp in sorted({temp for temp, _ in seconds}):
            (s0, rc0), (sn, rcn) = seconds[temp, 0], seconds[temp, n]
            v0, vn = verdicts(reports[temp, 0]), verdicts(reports[temp, n])
            same = "-" if not v0 and not vn else ("yes" if v0 == vn else "**no**")
            lines.append(
                f"| {temp} | {s0:.1f} s (exit {rc0}) | {sn:.1f} s (exit {rcn}) | {sn / s0:.2f}x | {same} "
                f"({len(v0)} cases) | {lock_wait(reports[temp, n]):.1f} s |"
            )
        emit(lines, args.out)


if __name__ == "__main__":
    main()
