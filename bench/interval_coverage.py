"""Coverage of the accuracy-drop interval the gates use, when few examples disagree.

Drives the shipped path (``pytest_compress.paired.drop_interval`` on per-example 0/1 outcomes,
exactly what ``measure.accuracy.paired_metric`` calls) on simulated test sets of n = 360 examples, the size
of the vision suite's held-out set: each example flips right -> wrong with probability
(D + drop) / 2 and wrong -> right with (D - drop) / 2, so D is the discordance and ``drop`` the
true accuracy drop. Counts how often the true drop lies above / below the 99% interval: each tail
is nominally 0.5%. "above" is what matters for a strict gate (it would pass a real drop as
confidently small), "below" for a lenient one (a false alarm).

    python bench/interval_coverage.py --trials 4000 --out reports/interval_coverage.md
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit  # noqa: E402
from pytest_compress.paired import drop_interval  # noqa: E402

N = 360
CONFIDENCE = 0.99
# (true drop, discordance), both as fractions of the examples.
SCENARIOS = [(0.0, 0.0)] + [
    (drop, disc) for disc in (0.005, 0.01, 0.02, 0.05) for drop in (0.0, 0.005, 0.01, 0.02) if drop <= disc
]


def outcomes(rng: random.Random, drop: float, disc: float) -> tuple[list[float], list[float]]:
    p_b, p_c = (disc + drop) / 2, (disc - drop) / 2
    ref, cmp = [], []
    for _ in range(N):
        u = rng.random()
        if u < p_b:
            r, c = 1.0, 0.0
        elif u < p_b + p_c:
            r, c = 0.0, 1.0
        else:  # agreeing examples: 98% right, as the suite's references are
            r = c = 1.0 if rng.random() < 0.98 else 0.0
        ref.append(r)
        cmp.append(c)
    return ref, cmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    lines = [
        f"`python bench/interval_coverage.py --trials {args.trials}` — {args.trials} simulated test sets of "
        f"{N} examples per row; the interval is the gates' {CONFIDENCE:.0%} paired interval for 0/1 outcomes "
        "(Tango's score interval); each tail is nominally 0.5%.",
        "",
        "| true drop | discordance | true drop above interval | true drop below interval | mean width |",
        "|---|---|---|---|---|",
    ]
    for drop, disc in SCENARIOS:
        rng = random.Random(f"{drop}-{disc}")
        above = below = 0
        width = 0.0
        for _ in range(args.trials):
            lo, hi = drop_interval(*outcomes(rng, drop, disc), confidence=CONFIDENCE)
            above += drop > hi
            below += drop < lo
            width += hi - lo
        lines.append(
            f"| {drop * 100:.1f} pt | {disc:.1%} | {above / args.trials:.2%} | {below / args.trials:.2%} "
            f"| {width / args.trials * 100:.2f} pt |"
        )
    lines.append("")
    lines.append(f"({time.perf_counter() - start:.0f} s)")
    emit(lines, args.out)


if __name__ == "__main__":
    main()
