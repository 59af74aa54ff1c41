"""Baseline entries of tests that no longer exist: reported by a run that collected their module in
full, removed by --compress-update-baselines, never touched by a partial run. (Plain tests and
synthetic baseline files: no torch, no training.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_compress import options
from pytest_compress.baselines import BaselineStore
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.stale import Collection, stale_entries
from tests.helpers import make_result

UPDATE = options.UPDATE
FP = Fingerprint(cpu="AMD EPYC 7B13", cores=2, machine="x86_64", torch="2.14.1", threads=1)
TESTS = "def test_a():\n    pass\n\ndef test_b():\n    pass\n"
RECORDED = ("test_model.py::test_a", "test_model.py::test_b", "test_model.py::test_gone", "test_other.py::test_z")


def _record(root: Path, nodeids: tuple[str, ...] = RECORDED) -> None:
    store = BaselineStore(root)
    for nodeid in nodeids:
        store.stage(make_result(test_id=nodeid), nodeid, FP)
    store.flush()


def _keys(path: Path) -> set[str]:
    return set(json.loads(path.read_text())["cases"])


@pytest.fixture
def stale_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_model=TESTS, test_other="def test_z():\n    pass\n")
    _record(pytester.path / "baselines")
    return pytester


def _files(p: pytest.Pytester) -> tuple[Path, Path, Path]:
    root = p.path / "baselines"
    return root / "test_model.json", root / "test_other.json", root / "latency" / f"{FP.slug}.json"


def _snapshot(p: pytest.Pytester) -> list[str]:
    return [f.read_text() for f in _files(p)]


def test_a_full_run_reports_stale_entries_and_changes_nothing(stale_project: pytest.Pytester) -> None:
    before = _snapshot(stale_project)
    result = stale_project.runpytest("test_model.py")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*stale baseline entries in baselines/test_model.json (their tests no longer exist): "
            "test_model.py::test_gone; "
            "remove them with --compress-update-baselines",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"*stale baseline entries in baselines/latency/{FP.slug}.json (their tests no longer exist): "
            "test_model.py::test_gone; remove them with --compress-update-baselines",
        ]
    )
    result.stdout.no_fnmatch_line("*test_other*test_z*")  # test_other.py did not run: its entries are not judged
    assert _snapshot(stale_project) == before


def test_update_removes_stale_entries_of_fully_run_modules_only(stale_project: pytest.Pytester) -> None:
    quality, other, latency = _files(stale_project)
    before_other = other.read_text()
    result = stale_project.runpytest("test_model.py", UPDATE)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*stale baseline entries in baselines/test_model.json (their tests no longer exist): "
            "test_model.py::test_gone; removed"
        ]
    )
    assert _keys(quality) == {"test_model.py::test_a", "test_model.py::test_b"}
    assert _keys(latency) == {"test_model.py::test_a", "test_model.py::test_b", "test_other.py::test_z"}
    assert json.loads(latency.read_text())["fingerprint"] == FP.to_dict()  # kept as recorded
    assert other.read_text() == before_other
    assert not list(stale_project.path.glob("baselines/**/*.tmp"))
    again = stale_project.runpytest(UPDATE)  # nothing stale any more: nothing said, nothing written
    again.assert_outcomes(passed=3)
    again.stdout.no_fnmatch_line("*stale baseline entries*")


def test_collect_only_with_update_prunes_without_running_anything(stale_project: pytest.Pytester) -> None:
    quality, other, latency = _files(stale_project)
    result = stale_project.runpytest("--collect-only", UPDATE)
    result.stdout.fnmatch_lines(
        ["*stale baseline entries in baselines/test_model.json*: test_model.py::test_gone; removed"]
    )
    assert _keys(quality) == {"test_model.py::test_a", "test_model.py::test_b"}
    assert "test_model.py::test_gone" not in _keys(latency) and "test_other.py::test_z" in _keys(latency)


@pytest.mark.parametrize(
    "args",
    [
        ("-k", "test_a"),
        ("--deselect", "test_model.py::test_b"),
        ("test_model.py::test_a", "test_model.py::test_b"),  # every test named, but not the module
        ("test_other.py",),
    ],
    ids=["-k", "--deselect", "node-ids", "another-file"],
)
def test_a_partial_run_neither_reports_nor_removes(stale_project: pytest.Pytester, args: tuple[str, ...]) -> None:
    before = _snapshot(stale_project)
    result = stale_project.runpytest(*args, UPDATE)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*stale baseline entries*")
    assert _snapshot(stale_project) == before


def test_a_module_skipped_or_broken_at_collection_is_not_judged(stale_project: pytest.Pytester) -> None:
    before = _snapshot(stale_project)
    stale_project.makepyfile(test_model="import pytest\npytest.skip('no gpu', allow_module_level=True)\n")
    skipped = stale_project.runpytest(UPDATE)
    skipped.stdout.no_fnmatch_line("*stale baseline entries*")
    stale_project.makepyfile(test_model="import nonexistent_module\n")
    broken = stale_project.runpytest(UPDATE)
    assert broken.ret == pytest.ExitCode.INTERRUPTED
    broken.stdout.no_fnmatch_line("*stale baseline entries*")
    assert _snapshot(stale_project) == before


def test_a_malformed_stale_entry_is_removed_too(stale_project: pytest.Pytester) -> None:
    quality = _files(stale_project)[0]
    doc = json.loads(quality.read_text())
    doc["cases"]["test_model.py::test_gone"] = None
    quality.write_text(json.dumps(doc))
    result = stale_project.runpytest("test_model.py", UPDATE)
    result.stdout.fnmatch_lines(
        ["*stale baseline entries in baselines/test_model.json*: test_model.py::test_gone; removed"]
    )
    assert _keys(quality) == {"test_model.py::test_a", "test_model.py::test_b"}


def test_an_older_file_keyed_by_in_module_names_is_judged_and_rewritten_by_node_id(
    stale_project: pytest.Pytester,
) -> None:
    quality = _files(stale_project)[0]
    doc = json.loads(quality.read_text())
    doc["cases"] = {key.split("::", 1)[1]: entry for key, entry in doc["cases"].items()}  # the older key scheme
    quality.write_text(json.dumps(doc))
    result = stale_project.runpytest("test_model.py")
    result.stdout.fnmatch_lines(
        ["*stale baseline entries in baselines/test_model.json*: test_model.py::test_gone; remove*"]
    )
    stale_project.runpytest("test_model.py", UPDATE).assert_outcomes(passed=2)
    assert _keys(quality) == {"test_model.py::test_a", "test_model.py::test_b"}


# -- the pieces, without pytest in between ----------------------------------------------------------


def test_collection_counts_only_modules_collected_in_full(tmp_path: Path) -> None:
    c = Collection()
    c.deselected(["s/t_k.py::test_x"])
    c.collect_report("s/t_err.py", "failed")
    c.finish(
        ["s/t.py::test_a", "s/t.py::C::test_b", "s/t_k.py::test_y", "s/t_err.py::test_z", "s/t_id.py::test_q"],
        ["s/t.py", "s/t_id.py::test_q"],
        tmp_path,
        tmp_path,
    )
    assert c.complete() == {"s/t": {"s/t.py::test_a", "s/t.py::C::test_b"}}


def test_flush_prunes_but_keeps_an_entry_this_update_re_creates(tmp_path: Path) -> None:
    _record(tmp_path, ("s/t.py::a", "s/t.py::b", "s/t.py::gone"))
    stale = stale_entries(BaselineStore(tmp_path), {"s/t": {"s/t.py::a", "s/t.py::b"}})
    quality, latency = tmp_path / "s" / "t.json", tmp_path / "latency" / f"{FP.slug}.json"
    assert stale == {quality: ["s/t.py::gone"], latency: ["s/t.py::gone"]}
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id="s/t.py::a", cmp_bytes=777), "s/t.py::a", FP)
    written = store.flush(prune={**stale, quality: ["s/t.py::gone", "s/t.py::a"]})  # a is staged: kept
    assert written == [quality, latency]
    assert _keys(quality) == {"s/t.py::a", "s/t.py::b"} and _keys(latency) == {"s/t.py::a", "s/t.py::b"}
    assert BaselineStore(tmp_path).quality("s/t.py::a").compressed_bytes == 777
    assert BaselineStore(tmp_path).flush(prune={tmp_path / "s" / "missing.json": ["x"]}) == []
