"""Power of the suite's gates: plant real regressions and count which the gates catch.

For each regression in ``bench/inject.py`` the built-in suite's own cases run through pytest with
the fault injected (``-p bench.inject``), against the committed baselines, twice: on this
machine's kernels (the recording machine, its model cache) and on the emulated other machine
(``tools/other_kernels.py``, its own cache: references retrained under other kernels, so the
baselines are compared through their spread). A control run without injection shows the same
cases pass. Nothing is re-implemented: the verdicts are pytest's.

    python bench/regression_power.py --out reports/regression_power.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402
from bench.inject import ENV, INJECTIONS  # noqa: E402

V, L = "suites/test_vision.py", "suites/test_language.py"
CASES = {
    "a": [f"{V}::test_int8_static[digits-resnet18]", f"{V}::test_int8_static[digits-cnn]"],
    "b": [f"{L}::test_int4_weight_only[stdlib-lm-128]"],
    "c": [f"{V}::test_prune_unstructured[digits-cnn-0.5]", f"{V}::test_prune_unstructured[digits-resnet18-0.5]"],
    "d": [f"{V}::test_int8_dynamic[digits-cnn]", f"{V}::test_int8_dynamic[digits-resnet18]"],
    "e": [f"{V}::test_int8_static[digits-resnet18]", f"{V}::test_int8_static[digits-mobilenetv2]"],
    "f": [f"{V}::test_int8_dynamic[digits-vit]"],
    "g": [f"{V}::test_int8_static[digits-resnet18]", f"{V}::test_int8_static[digits-mobilenetv2]"],
}
OTHER_CACHE = ".compress-cache/other-kernels"


def other_kernels_env() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "other_kernels.py")], capture_output=True, text=True, check=True
    )
    return dict(pair.split("=", 1) for pair in out.stdout.split())


def numbers(row: dict) -> str:
    """What the run measured: drop (metric unit), shipped bytes, speedup."""
    q = row["measurements"]
    drop, unit = q["metric.drop"]["value"], q["metric.drop"]["unit"]
    drop_text = f"{drop * 100:.2f} pt" if unit == "fraction" else f"{drop:.4g}"
    speed = f", {q['latency.speedup']['value']:.2f}x" if "latency.speedup" in q else ""
    return f"drop {drop_text}, {q['size.compressed']['value']:,} B{speed}"


def run(inject: str, nodeids: list[str], other: bool) -> dict[str, str]:
    """One pytest run; returns {nodeid: outcome text} for the table."""
    env = {**os.environ, ENV: inject}
    args = [sys.executable, "-m", "pytest", *nodeids, "-p", "bench.inject", "-p", "no:cacheprovider", "-q"]
    if other:
        env |= other_kernels_env()
        args.append(f"--compress-cache-dir={OTHER_CACHE}")
    with tempfile.TemporaryDirectory() as tmp:
        report, junit = Path(tmp) / "rows.json", Path(tmp) / "junit.xml"
        args += [f"--compress-report=json:{report}", f"--junitxml={junit}"]
        subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        rows = {r["test_id"]: r for r in json.loads(report.read_text())["rows"]} if report.exists() else {}
        outcomes = {}
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = case.get("name")
            nodeid = next((n for n in nodeids if n.endswith(f"::{name}")), name)
            failure = case.find("failure")
            row = rows.get(nodeid)
            comparison = row["baseline"]["comparison"] if row else "?"
            seen = f" — {numbers(row)}" if row else ""
            if row is not None and row["verdict"].startswith("fail"):
                text = f"**caught** by {row['verdict'].removeprefix('fail: ')} (baseline {comparison})"
            elif failure is not None:
                message = (failure.get("message") or "").splitlines()[0][:90]
                text = f"**caught** by the suite's assertion (`{message}`); gates: {row and row['verdict']}"
            elif case.find("skipped") is not None:
                text = "skipped"
            else:
                text = f"{'passed' if not inject else 'missed'}: {row['verdict'] if row else 'passed'}"
            outcomes[nodeid] = text + seen
        return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    all_cases = sorted({n for ns in CASES.values() for n in ns})
    lines = [
        "`python bench/regression_power.py` — each regression planted with `-p bench.inject` into the "
        "built-in suite's own cases, run by pytest against the committed baselines on this machine's "
        "kernels and on the emulated other machine (`tools/other_kernels.py`, references retrained in "
        f"`{OTHER_CACHE}`).",
        "",
        "| regression | case | this machine (recording kernels) | emulated other machine |",
        "|---|---|---|---|",
    ]
    for key, label in [("", "none (control)"), *INJECTIONS.items()]:
        cases = all_cases if not key else CASES[key]
        here, other = run(key, cases, other=False), run(key, cases, other=True)
        for nodeid in cases:
            case = nodeid.split("::", 1)[1]
            lines.append(
                f"| {key and f'({key}) '}{label} | `{case}` | {here.get(nodeid, '-')} | {other.get(nodeid, '-')} |"
            )
        print(f"{label}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    lines += ["", f"({time.perf_counter() - start:.0f} s in all)"]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
