"""What CI gets: JUnit XML properties, the GitHub job summary, and pytest-benchmark JSON that
pytest-benchmark's own tools load."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_compress import options
from pytest_compress.report import benchmark_json, step_summary
from pytest_compress.report.properties import flat_properties
from pytest_compress.report.rows import build_rows
from pytest_compress.results import CaseResult, Verdict

from .helpers import make_result

PRIOR = "## Earlier step\n\nsomething another step wrote\n"


def _timed(result: CaseResult, n: int = 21, seed: int = 0) -> CaseResult:
    """``result`` with per-sample timings, as the runner now keeps them."""
    rng = random.Random(seed)
    ref = tuple(0.002 * rng.lognormvariate(0, 0.1) for _ in range(n))
    cmp_ = tuple(0.001 * rng.lognormvariate(0, 0.1) for _ in range(n))
    assert result.latency is not None
    latency = dataclasses.replace(result.latency, reference_s=ref, compressed_s=cmp_, calls_per_sample=4)
    return dataclasses.replace(result, latency=latency)


# -- JUnit properties --------------------------------------------------------------------------


def test_flat_properties_are_plain_values_under_the_prefix() -> None:
    props = dict(flat_properties(make_result(speedup=2.0, drop_ci=(0.0, 0.02))))
    assert all(k.startswith("compress_") for k in props)
    assert all(isinstance(v, (str, int, float)) for v in props.values())
    assert props["compress_size_reference_bytes"] == 4000
    assert props["compress_size_compressed_bytes"] == 1000
    assert props["compress_size_reduction"] == 4.0
    assert props["compress_metric"] == "accuracy"
    assert props["compress_metric_drop_ci_high"] == 0.02
    assert props["compress_speedup"] == 2.0
    assert props["compress_verdict"] == "pass"


def test_failed_case_says_why_in_its_properties() -> None:
    verdict = Verdict("fail", failed_gates=("accuracy-drop",), reasons=("accuracy drop 5.0 pt > 1.0 pt",))
    props = dict(flat_properties(make_result().with_verdict(verdict)))
    assert props["compress_verdict"] == "fail"
    assert props["compress_verdict_label"] == "fail: accuracy-drop"
    assert props["compress_reasons"] == "accuracy drop 5.0 pt > 1.0 pt"


def test_untimed_case_has_no_latency_properties() -> None:
    props = dict(flat_properties(make_result(speedup=None)))
    assert not [k for k in props if "speedup" in k or "latency" in k]


# -- benchmark JSON, unit ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 8, 21, 40])
def test_stats_agree_with_pytest_benchmark(n: int) -> None:
    bstats = pytest.importorskip("pytest_benchmark.stats")
    rng = random.Random(n)
    data = [rng.lognormvariate(-7, 0.5) for _ in range(n)]
    theirs = bstats.Stats()
    for v in data:
        theirs.update(v)
    ours = benchmark_json.stats(data, iterations=3)
    for field in bstats.Stats.fields:
        assert ours[field] == pytest.approx(getattr(theirs, field)), field
    assert ours["data"] == data and ours["iterations"] == 3


def test_benchmark_entries_per_timed_model(tmp_path: Path) -> None:
    timed, untimed = _timed(make_result(test_id="t.py::test_a[x]")), make_result(test_id="t.py::test_b", speedup=None)
    rows = build_rows([timed, untimed])
    doc = json.loads(benchmark_json.benchmark_json(rows, ["header line"]))
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    names = [b["fullname"] for b in doc["benchmarks"]]
    assert names == ["t.py::test_a[x]::forward::reference", "t.py::test_a[x]::forward::compressed"]
    ref = doc["benchmarks"][0]
    assert ref["name"] == "test_a[x]::forward::reference"
    assert ref["group"] == "t.py::test_a[x] (forward)"
    assert ref["stats"]["rounds"] == 21 and ref["stats"]["iterations"] == 4 and len(ref["stats"]["data"]) == 21
    assert ref["extra_info"]["speedup"] == 2.0 and ref["extra_info"]["size_compressed"] == 1000
    assert doc["machine_info"]["pytest_compress"] == ["header line"]


def test_non_finite_numbers_become_null() -> None:
    rows = build_rows([_timed(make_result(cmp_acc=float("nan"), cmp_bytes=0))])
    doc = json.loads(benchmark_json.benchmark_json(rows, []))  # strict JSON: no NaN tokens
    info = doc["benchmarks"][0]["extra_info"]
    assert info["metric_compressed"] is None and info["size_reduction"] is None


def _compare(path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("pytest_benchmark")
    return subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", "--columns=min,median,max,rounds,iterations", str(path)],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=120,
        check=False,
    )


def test_pytest_benchmark_compare_reads_our_file(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text(benchmark_json.benchmark_json(build_rows([_timed(make_result(test_id="t.py::test_a"))]), []))
    done = _compare(path)
    assert done.returncode == 0, done.stderr
    assert "test_a::forward::reference" in done.stdout
    assert "test_a::forward::compressed" in done.stdout


# -- step summary, unit ------------------------------------------------------------------------


def test_step_summary_appends(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text(PRIOR)
    rows = build_rows([make_result()])
    step_summary.append_step_summary(rows, ["h"], path)
    step_summary.append_step_summary(rows, ["h"], path)
    text = path.read_text()
    assert text.startswith(PRIOR)
    assert text.count(step_summary.TITLE) == 2
    assert step_summary.summary_path({step_summary.ENV: str(path)}) == path
    assert step_summary.summary_path({step_summary.ENV: ""}) is None
    assert step_summary.summary_path({}) is None


def test_no_cases_add_nothing_to_the_step_summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = pytester.path / "summary.md"
    summary.write_text(PRIOR)
    monkeypatch.setenv(step_summary.ENV, str(summary))
    pytester.makepyfile("def test_a():\n    assert True\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert summary.read_text() == PRIOR


# -- end to end --------------------------------------------------------------------------------


def test_ci_outputs_of_a_real_run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """One run of a tiny model: JUnit properties, the appended job summary, and a benchmark file
    that pytest-benchmark's CLI compares — and the md report is exactly what the summary holds."""
    summary = project.path / "summary.md"
    summary.write_text(PRIOR)
    monkeypatch.setenv(step_summary.ENV, str(summary))
    result = project.runpytest_subprocess(
        "-k", "int8", options.UPDATE, "--compress-draws=1", "--junitxml=x.xml",
        f"{options.REPORT}=md:r.md", f"{options.REPORT}=benchmark-json:bench.json",
    )  # fmt: skip
    result.assert_outcomes(passed=1, deselected=1)

    case = ET.parse(project.path / "x.xml").getroot().find(".//testcase[@name='test_int8']")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert int(props["compress_size_reference_bytes"]) > int(props["compress_size_compressed_bytes"]) > 0
    assert float(props["compress_size_reduction"]) > 2
    assert props["compress_metric"] == "accuracy"
    low, drop, high = (float(props[f"compress_metric_drop{s}"]) for s in ("_ci_low", "", "_ci_high"))
    assert low <= drop <= high
    low, speedup, high = (float(props[f"compress_speedup{s}"]) for s in ("_ci_low", "", "_ci_high"))
    assert low <= speedup <= high
    assert props["compress_verdict"] == "new-baseline"
    assert "pytest_compress_result" not in props  # the full result rides on the call report only

    text = summary.read_text()
    assert text.startswith(PRIOR)
    assert text.endswith((project.path / "r.md").read_text())
    assert "int8-dynamic" in text

    bench = project.path / "bench.json"
    doc = json.loads(bench.read_text())
    entries = {b["name"]: b for b in doc["benchmarks"]}
    assert {"test_int8::forward::reference", "test_int8::forward::compressed"} <= set(entries)
    ref = entries["test_int8::forward::reference"]["stats"]
    assert ref["rounds"] == len(ref["data"]) == entries["test_int8::forward::reference"]["extra_info"]["pairs"]
    assert min(ref["data"]) == ref["min"] > 0
    done = _compare(bench)
    assert done.returncode == 0, done.stderr
    assert "test_int8::forward::compressed" in done.stdout
