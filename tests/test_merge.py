"""``python -m pytest_compress merge``: CI shards' JSON reports -> one report, one baseline update.

Unit tests on synthetic results (torch-free, fast), then the end-to-end check that two ``-k``
shards of a small suite merge into exactly what one serial run writes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
from pathlib import Path

import pytest

from pytest_compress import merge
from pytest_compress.__main__ import main as cli
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.report.render import json_document
from pytest_compress.report.rows import build_rows
from pytest_compress.results import WRITTEN, CaseResult, Verdict
from tests.helpers import make_result
from tests.run_compare import TIMING_DETAILS, comparable_rows, same_latency_files

RECORDED = Verdict("new-baseline", baseline=WRITTEN)


def _shard(path: Path, *results: CaseResult, header: tuple[str, ...] = ("h",)) -> Path:
    path.write_text(json_document(build_rows(list(results)), list(header)))
    return path


def _recorded(test_id: str, **kw: object) -> CaseResult:
    return make_result(test_id=test_id, **kw).with_verdict(RECORDED)  # type: ignore[arg-type]


def test_merged_report_lists_every_shard_in_run_order(tmp_path: Path) -> None:
    a = _shard(tmp_path / "a.json", _recorded("suites/test_x.py::test_b[m]"))
    b = _shard(tmp_path / "b.json", _recorded("suites/test_x.py::test_a[m]"))
    out = tmp_path / "merged.json"
    assert merge.main([str(a), str(b), f"--compress-report=json:{out}"]) == 0
    doc = json.loads(out.read_text())
    assert [r["test_id"] for r in doc["rows"]] == ["suites/test_x.py::test_a[m]", "suites/test_x.py::test_b[m]"]
    assert [r["test_id"] for r in doc["results"]] == [r["test_id"] for r in doc["rows"]]
    assert doc["header"][0].startswith("pytest-compress: 2 case(s)")
    # The merged report is itself a shard: merging it again changes nothing.
    again = tmp_path / "again.json"
    assert merge.main([str(out), f"--compress-report=json:{again}"]) == 0
    assert json.loads(again.read_text())["rows"] == doc["rows"]


def test_latency_goes_to_the_file_of_the_machine_it_was_timed_on(tmp_path: Path) -> None:
    here = _recorded("suites/test_x.py::test_a[m]")
    other_fp = {**here.fingerprint, "cpu": "other-cpu", "cores": 64}
    there = dataclasses.replace(_recorded("suites/test_x.py::test_b[m]", speedup=3.0), fingerprint=other_fp)
    a, b = _shard(tmp_path / "a.json", here), _shard(tmp_path / "b.json", there)
    base = tmp_path / "baselines"
    assert merge.main([str(a), str(b), "--update-baselines", f"--baseline-dir={base}"]) == 0
    quality = json.loads((base / "suites" / "test_x.json").read_text())
    assert set(quality["cases"]) == {here.test_id, there.test_id}
    for result in (here, there):
        slug = Fingerprint(**result.fingerprint).slug
        latency = json.loads((base / "latency" / f"{slug}.json").read_text())
        assert list(latency["cases"]) == [result.test_id]  # each machine's file holds only its own timing
        assert latency["fingerprint"]["cpu"] == result.fingerprint["cpu"]
        assert quality["cases"][result.test_id]["latency_file"] == slug


def test_non_finite_result_survives_the_json_report_and_is_not_recorded(tmp_path: Path) -> None:
    bad = make_result(test_id="suites/test_x.py::test_nan[m]", cmp_acc=math.nan, drop_ci=(0.0, 0.1))
    bad = bad.with_verdict(Verdict("fail", failed_gates=("non-finite",), reasons=("nan",), baseline=WRITTEN))
    shard = _shard(tmp_path / "a.json", bad, _recorded("suites/test_x.py::test_ok[m]"))
    text = shard.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON report"))
    entry = next(e for e in merge.read_shard(shard) if e.result.test_id.endswith("test_nan[m]"))
    assert entry.result.non_finite() == ["compressed accuracy = nan"]
    base = tmp_path / "b"
    assert merge.main([str(shard), "--update-baselines", f"--baseline-dir={base}"]) == 0
    assert list(json.loads((base / "suites" / "test_x.json").read_text())["cases"]) == ["suites/test_x.py::test_ok[m]"]


def test_identical_duplicate_is_kept_once(tmp_path: Path) -> None:
    r = _recorded("suites/test_x.py::test_a[m]")
    a, b = _shard(tmp_path / "a.json", r), _shard(tmp_path / "b.json", r)
    assert [e.result.test_id for e in merge.merge([a, b])] == [r.test_id]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d.update(schema=2),
            "a.json: field 'schema' is 2, this pytest-compress merges JSON reports",
        ),
        (lambda d: d.pop("results"), "a.json: field 'results' must hold one result per row (1 rows, got NoneType)"),
        (lambda d: d["results"][0].update(schema=1), "a.json: results[0]: field 'schema' is 1"),
        (lambda d: d["results"][0].pop("size"), "a.json: results[0] ('suites/test_x.py::test_a[m]') is malformed"),
        (lambda d: d["rows"][0].update(test_id="x"), "a.json: rows[0] is test 'x' but results[0] is test"),
        (lambda d: d.clear(), "a.json: not a pytest-compress JSON report"),
    ],
    ids=["report-schema", "no-results", "result-schema", "missing-field", "row-mismatch", "not-a-report"],
)
def test_incompatible_shard_is_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit, expected: str
) -> None:
    path = _shard(tmp_path / "a.json", _recorded("suites/test_x.py::test_a[m]"))
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    assert merge.main([str(path)]) == 2
    assert expected in capsys.readouterr().err


def test_same_test_with_different_results_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _shard(tmp_path / "a.json", _recorded("suites/test_x.py::test_a[m]", cmp_acc=0.97))
    b = _shard(tmp_path / "b.json", _recorded("suites/test_x.py::test_a[m]", cmp_acc=0.90))
    assert merge.main([str(a), str(b), f"--compress-report=json:{tmp_path / 'm.json'}"]) == 2
    err = capsys.readouterr().err
    assert f"{b}: test 'suites/test_x.py::test_a[m]' is also in {a}, with a different result" in err
    assert not (tmp_path / "m.json").exists()


def test_update_needs_shards_that_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gated = make_result(test_id="suites/test_x.py::test_a[m]").with_verdict(Verdict("pass", baseline="exact"))
    a = _shard(tmp_path / "a.json", gated)
    assert merge.main([str(a), "--update-baselines", f"--baseline-dir={tmp_path / 'b'}"]) == 2
    assert "was not run with --compress-update-baselines" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert merge.main([str(a)]) == 0  # a report alone needs no recorded results


def test_unreadable_shard_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert merge.main([str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot be read" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{")
    assert merge.main([str(tmp_path / "bad.json")]) == 2
    assert "bad.json: not JSON" in capsys.readouterr().err
    assert cli(["nope"]) == 2
    assert "merge" in capsys.readouterr().err


# -- end to end: two -k shards of a small suite merge into what one serial run writes ---------------


def test_two_shards_merge_into_one_serial_run(project: pytest.Pytester) -> None:
    p = project.path
    run = ("--compress-update-baselines", "--compress-draws=1", "-p", "no:cacheprovider")
    project.runpytest(*run, "--compress-report=json:serial.json").assert_outcomes(passed=2)
    (p / "baselines").rename(p / "serial")
    for i, k in enumerate(("int8", "not int8")):  # each CI job checks out the same baselines/ and writes its own
        project.runpytest(*run, "-k", k, f"--compress-report=json:s{i}.json").assert_outcomes(passed=1, deselected=1)
        shutil.rmtree(p / "baselines")
    merged = project.run(
        sys.executable, "-m", "pytest_compress", "merge", "s0.json", "s1.json", "--update-baselines",
        "--compress-report=json:merged.json", "--compress-report=md:merged.md",
    )  # fmt: skip
    assert merged.ret == 0, merged.stderr.str()
    merged.stdout.fnmatch_lines(["*merged 2 case(s) from 2 shard(s); 0 failed"])
    serial, doc = json.loads((p / "serial.json").read_text()), json.loads((p / "merged.json").read_text())
    # The header's model sources aside (the serial run trained the model, the shards reused it).
    assert doc["header"][0].split(";")[0] == serial["header"][0].split(";")[0] == "pytest-compress: 2 case(s)"
    assert doc["header"][1:] == serial["header"][1:]
    assert comparable_rows(doc) == comparable_rows(serial)
    assert all(TIMING_DETAILS <= set(r["details"]) for r in doc["rows"])  # timings were there, and differ
    # Baselines: the quality file byte for byte, the latency files entry for entry (timings aside).
    assert (p / "baselines" / "test_model.json").read_text() == (p / "serial" / "test_model.json").read_text()
    same_latency_files(p / "baselines", p / "serial")
    assert "| blobs-mlp" in (p / "merged.md").read_text()
