"""How much a model's time depends on which model ran just before it: per case of a JSON report,
the speedup of the reference-first pairs against the compressed-first pairs (README, "How it
measures"; the reason the speedup is taken over blocks of one pair of each).

    python tools/carry_over.py reports/suite.json

The report is a ``--compress-report=json:PATH`` (schema 3: each result keeps its raw samples).
Prints, per case, both orders' ratio of median times and their quotient (largest first), then how
many cases split by more than 10% and 20%.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def splits(report: dict) -> list[tuple[float, str, float, float]]:
    """(compressed-first / reference-first, test id, reference-first ratio, compressed-first ratio)."""
    out = []
    for result in report.get("results", []):
        lat = result.get("latency") or {}
        ref, cmp = lat.get("reference_s") or [], lat.get("compressed_s") or []
        if len(ref) < 2 or len(ref) != len(cmp):
            continue
        first = statistics.median(ref[0::2]) / statistics.median(cmp[0::2])  # pairs 0, 2, ...: reference first
        second = statistics.median(ref[1::2]) / statistics.median(cmp[1::2])  # pairs 1, 3, ...: compressed first
        out.append((second / first, result["test_id"], first, second))
    return sorted(out, reverse=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    rows = splits(json.loads(Path(argv[0]).read_text()))
    for q, test_id, first, second in rows:
        print(f"{q:6.3f}  reference first {first:8.3f}x  compressed first {second:8.3f}x  {test_id}")
    if rows:
        over = {t: sum(q > 1 + t or q < 1 / (1 + t) for q, *_ in rows) for t in (0.1, 0.2)}
        print(
            f"{len(rows)} cases: the two orders differ by more than 10% in {over[0.1]}, more than 20% in "
            f"{over[0.2]}; largest quotient {rows[0][0]:.2f} ({rows[0][1]})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
