"""Baseline files under bad input, faults and concurrency: every malformed file is a clear error
naming the file, special files never block, an update never loses an entry, nothing non-finite is
written. (No torch: synthetic results from tests.helpers.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_compress import atomic
from pytest_compress.baselines import BaselineFileError, BaselineStore, BaselineValueError, lock_path
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.results import DrawResult, MetricResult
from tests.helpers import make_result

FP = Fingerprint(cpu="AMD EPYC 7B13", cores=2, machine="x86_64", torch="2.14.1", threads=1)
REPO = Path(__file__).resolve().parents[1]
ID = "s/t.py::a"


def _written(tmp_path: Path) -> tuple[Path, Path]:
    """A valid quality and latency file holding entry ``a`` (and ``b``), as a flush writes them."""
    store = BaselineStore(tmp_path)
    for nodeid in (ID, "s/t.py::b"):
        store.stage(make_result(test_id=nodeid, sha="1" * 64), nodeid, FP)
    store.flush()
    return tmp_path / "s" / "t.json", tmp_path / "latency" / f"{FP.slug}.json"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1))


# -- malformed files: one clear error each ----------------------------------------------------------

# (text replaced in the written quality file, replacement, what the message must say)
QUALITY_VARIANTS = [
    ('"cases": {', '"cases": {}, "cases": {', "the top level holds 'cases' more than once"),
    ('"schema": 1', '"schema": 1, "schema": 1', "the top level holds 'schema' more than once"),
    ('"schema": 1', '"schema": 99', 'expected a JSON object with "schema": 1'),
    ('"schema": 1', '"schema": true', 'expected a JSON object with "schema": 1'),
    ('"schema": 1', '"schema": "1"', 'expected a JSON object with "schema": 1'),
    ('"schema": 1', '"schema": 1e400', 'expected a JSON object with "schema": 1'),
    ('"cases": {', '"cases": [], "x": {', '"cases": a list'),
    ('"compressed_bytes": 1000', '"compressed_bytes": Infinity', "size.compressed_bytes is Infinity"),
    ('"compressed_bytes": 1000', '"compressed_bytes": 1e400', "size.compressed_bytes is 1e400"),
    ('"compressed_bytes": 1000', '"compressed_bytes": ' + "9" * 5000, "size.compressed_bytes is a 5000-digit number"),
    ('"compressed_bytes": 1000', '"compressed_bytes": 0', "size.compressed_bytes is 0"),
    ('"compressed_bytes": 1000', '"compressed_bytes": -5', "size.compressed_bytes is -5"),
    ('"compressed_bytes": 1000', '"compressed_bytes": 1000.5', "size.compressed_bytes is 1000.5"),
    ('"compressed_bytes": 1000', '"compressed_bytes": "1000"', 'size.compressed_bytes is "1000"'),
    ('"compressed_bytes": 1000', '"compressed_bytes": true', "size.compressed_bytes is true"),
    ('"reference_bytes": 4000', '"reference_bytes": 4000, "reference_bytes": 4000', "size holds 'reference_bytes'"),
    ('"reference": 0.98', '"reference": NaN', "metric.reference is NaN"),
    ('"compressed": 0.97', '"compressed": -Infinity', "metric.compressed is -Infinity"),
    ('"name": "accuracy"', '"name": 3', "metric.name is 3"),
    ('"reference": 0.98', '"reference": 1e300', "metric.reference is 1e+300, expected a number from -1e+12"),
    ('"examples": 100', '"examples": ' + "1" * 5000, "metric.examples is a 5000-digit number"),
    ('"reference": [', '"reference": [1e999, ', "spread.reference[0] is 1e999"),
    ('"compressed_bytes": [\n          1000', '"compressed_bytes": [0', "spread.compressed_bytes[0] is 0"),
    ('"method_config": {}', '"method_config": {"lr": NaN}', "method_config.lr is NaN"),
    ('"method_config": {}', '"method_config": ' + "[" * 50 + "]" * 50, "nests more than 32 levels"),
]


@pytest.mark.parametrize(("old", "new", "says"), QUALITY_VARIANTS, ids=[v[2][:40] for v in QUALITY_VARIANTS])
def test_every_malformed_quality_file_is_an_error_naming_file_and_field(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    qpath, _ = _written(tmp_path)
    q = qpath.read_text()
    entry_a = q[q.index(f'"{ID}": {{') : q.index('"s/t.py::b": {')]  # edit entry a only: b must stay readable
    qpath.write_text(q.replace(entry_a, entry_a.replace(old, new, 1)) if old in entry_a else q.replace(old, new, 1))
    with pytest.raises(BaselineFileError) as info:
        BaselineStore(tmp_path).quality(ID)
    message = str(info.value)
    assert str(qpath) in message and says in message and "--compress-update-baselines" in message
    assert "\n" not in message


LATENCY_VARIANTS = [
    ('"speedup": 2.0', '"speedup": NaN', "speedup is NaN"),
    ('"speedup": 2.0', '"speedup": -Infinity', "speedup is -Infinity"),
    ('"speedup": 2.0', '"speedup": Infinity', "speedup is Infinity"),
    ('"speedup": 2.0', '"speedup": -1', "speedup is -1"),
    ('"speedup": 2.0', '"speedup": 0', "speedup is 0"),
    ('"speedup": 2.0', '"speedup": 1e-300', "speedup is 1e-300"),
    ('"speedup": 2.0', '"speedup": 5e-324', "speedup is 5e-324"),
    ('"speedup": 2.0', '"speedup": 1e400', "speedup is 1e400"),
    ('"speedup": 2.0', '"speedup": null', "speedup is null"),
    ('"speedup": 2.0', '"speedup": "2"', 'speedup is "2"'),
    ('"speedup": 2.0', '"speedupp": 2.0', "speedup is missing"),
    ('"speedup": 2.0', '"speedup": 2.0, "speedups": [2.0, NaN]', "speedups[1] is NaN"),
    ('"speedup": 2.0', '"speedup": 2.0, "speedups": [2.0, 0]', "speedups[1] is 0"),
    ('"speedup": 2.0', '"speedup": 2.0, "speedups": "fast"', 'speedups is "fast"'),
    ('"speedup": 2.0', '"speedup": 2.0, "prefill": {"speedup": -2}', "prefill.speedup is -2"),
    ('"reference_ms": 2.0', '"reference_ms": 0', "reference_ms is 0"),
    ('"cases": {', '"cases": {}, "cases": {', "the top level holds 'cases' more than once"),
    ('"cores": 2', '"cores": NaN', "fingerprint.cores is NaN"),
]


@pytest.mark.parametrize(("old", "new", "says"), LATENCY_VARIANTS, ids=[v[2][:40] for v in LATENCY_VARIANTS])
def test_every_malformed_latency_file_is_an_error_never_a_gate_switched_off(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    _, lpath = _written(tmp_path)
    _edit(lpath, old, new)  # entry "s/t.py::a" comes first
    with pytest.raises(BaselineFileError) as info:
        BaselineStore(tmp_path).latency(ID, FP)
    message = str(info.value)
    assert str(lpath) in message and says in message and "--compress-update-baselines" in message


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("null", "entry 's/t.py::a' is malformed: the entry is null, expected an object"),
        ("[]", "the entry is a list, expected an object"),
        ('{"speedup": 2.0, "reference_ms": 1.0, "compressed_ms": 0.5}, "s/t.py::a": {}', "more than once"),
    ],
)
def test_a_null_list_or_repeated_entry_is_an_error_not_absent(tmp_path: Path, entry: str, says: str) -> None:
    lpath = tmp_path / "latency" / f"{FP.slug}.json"
    lpath.parent.mkdir()
    lpath.write_text(f'{{"schema": 1, "cases": {{"s/t.py::a": {entry}, "s/t.py::b": null}}}}')
    with pytest.raises(BaselineFileError, match="is malformed|more than once") as info:
        BaselineStore(tmp_path).latency(ID, FP)
    assert says in str(info.value) and str(lpath) in str(info.value)
    assert BaselineStore(tmp_path).latency("s/t.py::zzz", FP) is None  # truly absent is still absent


def test_a_malformed_entry_fails_its_own_reads_only(tmp_path: Path) -> None:
    qpath, _ = _written(tmp_path)
    data = json.loads(qpath.read_text())
    data["cases"][ID] = None
    qpath.write_text(json.dumps(data))
    store = BaselineStore(tmp_path)
    with pytest.raises(BaselineFileError, match="entry 's/t.py::a' is malformed"):
        store.quality(ID)
    assert store.quality("s/t.py::b").compressed_bytes == 1000


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "not a readable baseline file"),
        (b"\xff\xfe{}", "not a readable baseline file"),
        (b"[" * 200_000 + b"]" * 200_000, "not a readable baseline file"),
        (b"null", "found null"),
        (b'{"schema": 1}', 'found "cases": null'),
        (b'{"schema": 1, "cases": {}, "run": {"id": 5, "time": "x"}}', "run.id is 5"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes, says: str) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "t.json").write_bytes(content)
    with pytest.raises(BaselineFileError) as info:
        BaselineStore(tmp_path).quality(ID)
    assert str(tmp_path / "s" / "t.json") in str(info.value) and says in str(info.value)


# -- special files: refused without blocking ----------------------------------------------------------


def _special(kind: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dangling symlink":
        path.symlink_to(path.parent / "gone.json")
    elif kind == "symlink loop":
        path.symlink_to(path.name)


def _within(seconds: float, fn: Any, unblock: Path | None = None) -> Any:
    """Run ``fn`` in a thread; fail (and release a blocked FIFO reader) if it takes longer."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None and stat.S_ISFIFO(os.stat(unblock).st_mode):
            os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))  # a writer ends the reader's wait
        pytest.fail(f"blocked for more than {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


SPECIAL = {"fifo": "is a FIFO", "directory": "is a directory", "dangling symlink": "dangling symlink"}
SPECIAL["symlink loop"] = "symlink loop"


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_special_files_are_refused_quickly_naming_the_path(tmp_path: Path, kind: str) -> None:
    qpath = tmp_path / "s" / "t.json"
    lpath = tmp_path / "latency" / f"{FP.slug}.json"
    for path, read in (
        (qpath, lambda: BaselineStore(tmp_path).quality(ID)),
        (lpath, lambda: BaselineStore(tmp_path).latency(ID, FP)),
    ):
        _special(kind, path)
        with pytest.raises(BaselineFileError) as info:
            _within(5, read, unblock=path)
        assert str(path) in str(info.value) and SPECIAL[kind] in str(info.value)


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_an_update_over_a_special_file_stops_and_leaves_it(tmp_path: Path, kind: str) -> None:
    qpath = tmp_path / "s" / "t.json"
    _special(kind, qpath)
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id=ID), ID, FP)
    with pytest.raises(BaselineFileError, match="delete it or restore it from version control") as info:
        _within(5, store.flush, unblock=qpath)
    assert str(qpath) in str(info.value)
    assert os.path.lexists(qpath) and not (qpath.exists() and qpath.is_file())
    assert not (tmp_path / "latency").exists() or not any((tmp_path / "latency").glob("*.json"))


# -- updates never lose data ------------------------------------------------------------------------

CORRUPT = {
    "syntax": lambda t: t[:-20],
    "duplicate cases": lambda t: t.replace('"cases": {', '"cases": {}, "cases": {', 1),
    "nan token": lambda t: t.replace('"compressed": 0.97', '"compressed": NaN', 1),
    "null entry": lambda t: t.replace('"s/t.py::b": {', '"s/t.py::b": null, "s/t.py::c": {', 1),
    "schema": lambda t: t.replace('"schema": 1', '"schema": 2'),
    "huge int": lambda t: t.replace('"compressed_bytes": 1000', '"compressed_bytes": ' + "7" * 5000),
}


@pytest.mark.parametrize("corruption", list(CORRUPT))
def test_an_update_over_a_corrupt_file_stops_and_keeps_every_file(tmp_path: Path, corruption: str) -> None:
    qpath, lpath = _written(tmp_path)
    bad = CORRUPT[corruption](qpath.read_text())
    qpath.write_text(bad)
    latency_before = lpath.read_bytes()
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id="s/t.py::new"), "s/t.py::new", FP)
    with pytest.raises(BaselineFileError) as info:
        store.flush()
    message = str(info.value)
    assert str(qpath) in message and "stopped and left every file as it was" in message
    assert qpath.read_text() == bad  # the corrupt file is kept for the user to restore
    assert lpath.read_bytes() == latency_before  # and no other file of the update was written
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_update_that_replaces_the_malformed_entry_repairs_it(tmp_path: Path) -> None:
    qpath, _ = _written(tmp_path)
    _edit(qpath, '"compressed_bytes": 1000', '"compressed_bytes": -1')  # entry "a"
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id=ID, cmp_bytes=900), ID, FP)
    store.flush()
    fresh = BaselineStore(tmp_path)
    assert fresh.quality(ID).compressed_bytes == 900 and fresh.quality("s/t.py::b").compressed_bytes == 1000


CHILD = r"""
import contextlib, pathlib, sys, time
from pytest_compress import atomic, baselines
from pytest_compress.fingerprint import Fingerprint
from tests.helpers import make_result

root, me, other, no_lock = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
if no_lock:  # the control: what an update without the lock does
    import filelock  # baselines.py imports FileLock from it when it writes

    filelock.FileLock = lambda *a, **k: contextlib.nullcontext()
write, paused = atomic.write_text, []

def write_after_a_pause(path, text):
    # Injected between the flush's reads and its first write: wait (up to 2 s) until the other
    # updater has read too, the worst interleaving for a read-merge-write without a lock.
    if not paused:
        paused.append(1)
        (root / f"{me}.read").touch()
        deadline = time.monotonic() + 2.0
        while not (root / f"{other}.read").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    write(path, text)

atomic.write_text = write_after_a_pause
store = baselines.BaselineStore(root / "baselines")
fp = Fingerprint(cpu="AMD EPYC 7B13", cores=2, machine="x86_64", torch="2.14.1", threads=1)
for i in range(3):
    nodeid = f"s/t.py::{me}{i}"
    store.stage(make_result(test_id=nodeid), nodeid, fp)
store.flush()
"""


def _two_updaters(tmp_path: Path, no_lock: bool) -> tuple[set[str], set[str]]:
    _written(tmp_path / "baselines")  # entries a and b already on disk
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [str(tmp_path), "0" if not no_lock else "1"]
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), me, other, args[1]], cwd=REPO, env=env)
        for me, other in (("x", "y"), ("y", "x"))
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    quality = json.loads((tmp_path / "baselines" / "s" / "t.json").read_text())["cases"]
    latency = json.loads((tmp_path / "baselines" / "latency" / f"{FP.slug}.json").read_text())["cases"]
    return {k.split("::")[1] for k in quality}, {k.split("::")[1] for k in latency}


def test_concurrent_updaters_lose_no_entry(tmp_path: Path) -> None:
    everything = {"a", "b", "x0", "x1", "x2", "y0", "y1", "y2"}
    assert _two_updaters(tmp_path, no_lock=False) == (everything, everything)
    assert not list(tmp_path.rglob("*.tmp"))


def test_without_the_lock_the_same_race_loses_entries(tmp_path: Path) -> None:
    """The control for the test above: its harness does detect lost entries."""
    quality, latency = _two_updaters(tmp_path, no_lock=True)
    assert len(quality) < 8 and len(latency) < 8


def test_the_lock_and_temporary_files_are_ignored_by_git(tmp_path: Path) -> None:
    names = [lock_path(REPO / "baselines" / "suites" / "test_x.json"), REPO / "baselines" / ".test_x.json.k3j.tmp"]
    names.append(REPO / "baselines" / "latency" / ".m.json.lock")
    rel = [str(p.relative_to(REPO)) for p in names]
    done = subprocess.run(["git", "check-ignore", "--no-index", *rel], cwd=REPO, capture_output=True, text=True)
    if done.returncode > 1:
        pytest.skip(f"git unavailable: {done.stderr.strip()}")
    assert done.stdout.split() == rel


# -- a flush cut short between the quality and the latency file ---------------------------------------


class _Killed(BaseException):
    pass


def test_a_flush_cut_short_between_the_two_files_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _written(tmp_path)
    write, calls = atomic.write_text, []

    def killed_after_the_first_file(path: Path, text: str) -> None:
        if calls:
            raise _Killed  # as kill -9 would: the latency file is never replaced
        calls.append(path)
        write(path, text)

    monkeypatch.setattr(atomic, "write_text", killed_after_the_first_file)
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id=ID, speedup=3.0, sha="2" * 64), ID, FP)  # a new artifact
    with pytest.raises(_Killed):
        store.flush()
    monkeypatch.undo()
    fresh = BaselineStore(tmp_path)
    assert fresh.quality(ID) is not None  # the new quality entry
    with pytest.raises(BaselineFileError, match="cut short between the two files") as info:
        fresh.latency(ID, FP)
    assert str(tmp_path / "latency") in str(info.value) and "--compress-update-baselines" in str(info.value)
    assert fresh.latency("s/t.py::b", FP).speedup == 2.0  # entries of earlier, whole updates still read
    store = BaselineStore(tmp_path)
    store.stage(make_result(test_id=ID, speedup=3.0, sha="2" * 64), ID, FP)
    store.flush()
    assert BaselineStore(tmp_path).latency(ID, FP).speedup == 3.0  # a rerun repairs it


def test_entries_link_the_two_files_by_what_was_timed_and_an_unchanged_refresh_rewrites_nothing(
    tmp_path: Path,
) -> None:
    qpath, lpath = _written(tmp_path)
    q, lat = json.loads(qpath.read_text()), json.loads(lpath.read_text())
    assert q["cases"][ID]["latency_file"] == FP.slug
    assert lat["cases"][ID]["artifact_sha256"] == q["cases"][ID]["size"]["artifact_sha256"] == "1" * 64
    before = qpath.read_bytes()
    _written(tmp_path)
    assert qpath.read_bytes() == before  # no run ids or times: a review diff shows only real changes


# -- file modes, non-finite values ---------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_mode_open_would_give(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        qpath, lpath = _written(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(qpath.stat().st_mode) == mode and stat.S_IMODE(lpath.stat().st_mode) == mode


def _bad(field: str, value: float) -> Any:
    r = make_result(test_id=ID)
    if field in ("reference", "compressed"):
        return r.__class__(**{**r.__dict__, "metric": MetricResult(**{**r.metric.__dict__, field: value})})
    if field == "speedup":
        return make_result(test_id=ID, speedup=value)
    if field == "draw":
        return r.with_draws((DrawResult(1, 0.98, value, 1000, ""),))
    if field == "extra":
        extra = MetricResult(**{**r.metric.__dict__, "name": "loss", "compressed": value})
        return r.__class__(**{**r.__dict__, "extra_metrics": (extra,)})
    return make_result(test_id=ID, cmp_bytes=int(value))


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("compressed", float("nan"), "metric.compressed is NaN"),
        ("reference", float("inf"), "metric.reference is Infinity"),
        ("compressed", float("-inf"), "metric.compressed is -Infinity"),
        ("speedup", float("nan"), "speedup is NaN"),
        ("speedup", float("inf"), "speedup is Infinity"),
        ("speedup", 1e-300, "speedup is 0.0"),
        ("size", 0, "size.compressed_bytes is 0"),
        ("draw", float("nan"), "draws holds a bad value"),
        ("extra", float("nan"), "extra_metrics.loss.compressed is NaN"),
    ],
)
def test_a_non_finite_result_is_never_staged(tmp_path: Path, field: str, value: float, says: str) -> None:
    store = BaselineStore(tmp_path)
    bad = _bad(field, value)
    with pytest.raises(BaselineValueError) as info:
        store.check(bad, ID, FP)
    assert ID in str(info.value) and says in str(info.value)
    with pytest.raises(BaselineValueError):
        store.stage(bad, ID, FP)
    assert store.flush() == []  # nothing was staged
    assert not tmp_path.joinpath("s").exists()
    store.stage(make_result(test_id="s/t.py::b"), "s/t.py::b", FP)  # the other cases still record
    store.flush()
    assert "NaN" not in (tmp_path / "s" / "t.json").read_text()


def test_dumps_json_refuses_non_finite_numbers() -> None:
    with pytest.raises(ValueError):
        atomic.dumps_json({"speedup": float("nan")})
    with pytest.raises(ValueError):
        atomic.dumps_json({"x": [float("-inf")]})
    assert atomic.dumps_json({"b": 1, "a": 0.5}) == '{\n  "a": 0.5,\n  "b": 1\n}\n'


def test_reading_a_huge_file_of_special_numbers_does_not_take_long(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    cases = ", ".join(f'"c{i}": {{"size": {{"reference_bytes": 1e400}}}}' for i in range(2000))
    (tmp_path / "s" / "t.json").write_text(f'{{"schema": 1, "cases": {{{cases}}}}}')
    start = time.monotonic()
    with pytest.raises(BaselineFileError, match="size.reference_bytes is 1e400"):
        BaselineStore(tmp_path).quality("s/t.py::c7")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("which", "field", "value"),
    [
        ("quality", ("metric", "examples"), 0),  # found by bench/reliability.py: passed silently
        ("latency", ("pairs",), 0),
        ("latency", ("reference_ms",), 1e-300),
        ("latency", ("compressed_ms",), 1e-300),
    ],
)
def test_values_no_measurement_can_produce_are_refused(tmp_path: Path, which: str, field: tuple, value: Any) -> None:
    qpath, lpath = _written(tmp_path)
    path = qpath if which == "quality" else lpath
    doc = json.loads(path.read_text())
    entry = doc["cases"][ID]  # one key scheme: the node id in both files
    for key in field[:-1]:
        entry = entry[key]
    entry[field[-1]] = value
    path.write_text(json.dumps(doc))
    store = BaselineStore(tmp_path)
    with pytest.raises(BaselineFileError, match=field[-1]) as info:
        store.quality(ID) if which == "quality" else store.latency(ID, FP)
    assert str(path) in str(info.value)
