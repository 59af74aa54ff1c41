from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_compress.baselines import BaselineFileError, BaselineStore, split_nodeid
from pytest_compress.fingerprint import Fingerprint
from tests.helpers import make_result

FP = Fingerprint(cpu="AMD EPYC 7B13", cores=2, machine="x86_64", torch="2.14.1", threads=1)


def test_nodeid_maps_to_module_file_and_key() -> None:
    assert split_nodeid("suites/test_x.py::test_a[p-1]") == ("suites/test_x", "test_a[p-1]")
    assert split_nodeid("suites/test_x.py::TestC::test_a") == ("suites/test_x", "TestC::test_a")


def test_stage_flush_roundtrip_is_deterministic(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    a, b = make_result(test_id="s/t.py::b"), make_result(test_id="s/t.py::a", cmp_bytes=1234)
    store.stage(a, a.test_id, FP)
    store.stage(b, b.test_id, FP)
    written = store.flush()
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["s/t.json", f"latency/{FP.slug}.json"]
    text = (tmp_path / "s" / "t.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert list(json.loads(text)["cases"]) == ["s/t.py::a", "s/t.py::b"]  # keyed by node id, like latency files
    fresh = BaselineStore(tmp_path)
    assert fresh.quality("s/t.py::a").compressed_bytes == 1234
    assert fresh.latency("s/t.py::a", FP).speedup == 2.0
    assert fresh.quality("s/t.py::zzz") is None
    other_machine = Fingerprint(cpu="Other", cores=8, machine="x86_64", torch="2.14.1", threads=1)
    assert fresh.latency("s/t.py::a", other_machine) is None
    latency_doc = json.loads((tmp_path / "latency" / f"{FP.slug}.json").read_text())
    assert latency_doc["fingerprint"]["cpu"] == "AMD EPYC 7B13"


def test_flush_merges_with_entries_already_on_disk(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id="s/t.py::a"), "s/t.py::a", FP)
    store.flush()
    store.stage(make_result(test_id="s/t.py::b"), "s/t.py::b", FP)
    store.flush()
    assert set(json.loads((tmp_path / "s" / "t.json").read_text())["cases"]) == {"s/t.py::a", "s/t.py::b"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{ nope", "not a readable baseline file"),
        ('{"schema": 99, "cases": {}}', 'expected a JSON object with "schema": 1'),
        ('["a"]', 'expected a JSON object with "schema": 1'),
        # An in-module key (older files) is read as the node id it stands for.
        ('{"schema": 1, "cases": {"a": {"size": {}}}}', "entry 's/t.py::a' is malformed"),
        ('{"schema": 1, "cases": {"s/t.py::a": null}}', "entry 's/t.py::a' is malformed: the entry is null"),
        ('{"schema": 1, "cases": {"a": {"size": {}}}, "cases": {}}', "the top level holds 'cases' more than once"),
        ('{"schema": 1, "cases": {"a": {"size": {"reference_bytes": 1e400}}}}', "size.reference_bytes is 1e400"),
    ],
)
def test_bad_files_raise_an_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "t.json").write_text(content)
    with pytest.raises(BaselineFileError) as info:
        BaselineStore(tmp_path).quality("s/t.py::a")
    assert str(tmp_path / "s" / "t.json") in str(info.value) and message in str(info.value)
    assert "--compress-update-baselines" in str(info.value)


def test_fingerprint_slug_ignores_nothing_volatile() -> None:
    assert FP.slug.startswith("amd-epyc-7b13-2c-cpu-t1-")
    assert FP.slug == Fingerprint(**FP.to_dict()).slug
    assert FP.slug != Fingerprint(**{**FP.to_dict(), "threads": 2}).slug
