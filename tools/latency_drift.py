"""How far each case's speedup moved between the session that recorded a latency baseline and a
later run: the number ``latency_tolerance`` has to cover (README, "How the gates decide").

    python tools/latency_drift.py reports/suite.json baselines/latency/<machine>.json

The report is a ``--compress-report=json:PATH`` of a later run on the same machine. Prints, per
case, the run's speedup against the mean of the recorded runs (largest falls first), then the
spread over all cases: the standard deviation of the log-ratio and the largest fall and rise.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path


def drifts(report: dict, latency: dict) -> list[tuple[float, str, float, float]]:
    """(log(now / recorded mean), test id, recorded mean, now) for every case in both files."""
    recorded = latency["cases"]
    out = []
    for row in report["rows"]:
        entry = recorded.get(row["test_id"])
        speedup = row["measurements"].get("latency.speedup", {}).get("value")
        if entry is None or not speedup:
            continue
        mean = statistics.fmean(entry.get("speedups") or [entry["speedup"]])
        out.append((math.log(speedup / mean), row["test_id"], mean, speedup))
    return sorted(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report, latency = (json.loads(Path(p).read_text()) for p in argv)
    found = drifts(report, latency)
    if not found:
        print("no case is in both files", file=sys.stderr)
        return 1
    for d, test_id, mean, now in found:
        print(f"{100 * math.expm1(d):+6.1f}%  recorded mean {mean:7.3f}x  now {now:7.3f}x  {test_id}")
    logs = [d for d, *_ in found]
    print(
        f"{len(logs)} cases: sd of log-ratio {statistics.pstdev(logs):.3f}, "
        f"median {100 * math.expm1(statistics.median(logs)):+.1f}%, "
        f"largest fall {100 * math.expm1(min(logs)):+.1f}%, largest rise {100 * math.expm1(max(logs)):+.1f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
