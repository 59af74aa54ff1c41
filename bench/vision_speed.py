"""Speed claims of the vision suite, measured as in-run ratios (a benchmark, not a timed test).

For 1x3x32x32 inputs at batch 1 and 1 torch thread, using the suite's own trained models and
methods (pytest_compress.runner.run_case, interleaved timing with a 5 s budget per case):
  ResNet-18  int8-static                       target >= 3.0x, <= 0.5 pt accuracy drop
  ResNet-18  prune-structured 50% + fine-tune  target >= 2.0x, <= 1.5 pt drop
  ViT        int8-dynamic                      target >= 1.5x

Usage: python bench/vision_speed.py [--out reports/vision_speed.md]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python bench/x.py): make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, setup  # noqa: E402
from pytest_compress.measure.latency import RunSettings
from pytest_compress.runner import run_case

CASES = [
    ("digits-resnet18", "int8-static", {}, 3.0, 0.005),
    ("digits-resnet18", "prune-structured", {"ratio": 0.5, "finetune_epochs": 3}, 2.0, 0.015),
    ("digits-vit", "int8-dynamic", {}, 1.5, None),
]


def main() -> None:
    args, store = setup("vision speed benchmark")
    settings = RunSettings(threads=1, latency_budget_s=5.0, latency_target_width=0.0)
    lines = [
        "`python bench/vision_speed.py` (batch 1, 1x3x32x32, 1 thread, 99% intervals):",
        "",
        "| model | method | speedup [99% CI] | target | accuracy drop [99% CI] | target | met? |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, method, margs, min_speedup, max_drop in CASES:
        r = run_case(
            store, test_id=f"bench::{model}-{method}", model=model, method=method, method_args=margs, settings=settings
        )
        lat, m = r.latency, r.metric
        assert lat is not None
        met = lat.speedup >= min_speedup and (max_drop is None or m.drop <= max_drop)
        lines.append(
            f"| {model} | {r.method_label} | {lat.speedup:.2f}x [{lat.speedup_ci[0]:.2f}, {lat.speedup_ci[1]:.2f}] "
            f"| >= {min_speedup:.1f}x | {m.drop * 100:.2f} pt [{m.drop_ci[0] * 100:.2f}, {m.drop_ci[1] * 100:.2f}] "
            f"| {'<= %.1f pt' % (max_drop * 100) if max_drop is not None else '-'} | {'yes' if met else 'NO'} |"
        )
        print(lines[-1], flush=True)
    emit(lines, args.out)


if __name__ == "__main__":
    main()
