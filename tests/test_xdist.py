"""pytest-xdist: ``-n 2`` gives what ``-n 0`` gives (rows, verdicts, baselines, stale-entry pruning),
and timing is never concurrent (the host's timing lock, ``measure/timing_lock.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_compress.measure import timing_lock
from tests.conftest import PROJECT_CONFTEST
from tests.run_compare import TIMING_DETAILS, comparable_rows, same_latency_files

pytest.importorskip("xdist")

# The project's model, wrapped so that every batch-1 forward (timing runs batch 1; training and
# evaluation run whole batches) appends "pid start end" to $FORWARD_LOG: the run's actual timing
# calls, from every process, on one clock (CLOCK_MONOTONIC is system-wide on Linux).
LOGGED_MODEL = textwrap.dedent(
    """
    import dataclasses
    import time
    from pathlib import Path

    _fd = None

    def _log(start, end):
        global _fd
        if _fd is None:
            _fd = os.open(os.environ["FORWARD_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(_fd, f"{os.getpid()} {start:.7f} {end:.7f}\\n".encode())

    @pc.register_model("logged-mlp")
    def logged_mlp():
        import torch
        spec = blobs_mlp()

        class Logged(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = spec.build()

            def forward(self, x):
                start = time.monotonic()
                y = self.net(x)
                if x.shape[0] == 1 and os.environ.get("FORWARD_LOG"):
                    _log(start, time.monotonic())
                return y

        return dataclasses.replace(spec, build=Logged)

    _met = False

    @pc.register_method("meet")
    def meet(model, config, ctx):
        # Under xdist, each worker's first case waits here for every worker's: all workers then
        # reach timing at the same moment, so without the timing lock they would time at once.
        global _met
        if not _met and "PYTEST_XDIST_WORKER" in os.environ:
            _met = True
            here = Path(os.environ["RENDEZVOUS_DIR"])
            here.mkdir(exist_ok=True)
            (here / os.environ["PYTEST_XDIST_WORKER"]).touch()
            deadline = time.monotonic() + 60
            while len(list(here.iterdir())) < int(os.environ["PYTEST_XDIST_WORKER_COUNT"]):
                assert time.monotonic() < deadline, "the other worker never came"
                time.sleep(0.002)
            pc.report_progress("met every worker")  # a worker's progress line: the controller prints it
        return model
    """
)

TESTS = textwrap.dedent(
    """
    import pytest

    def steps(method, **args):
        return {"steps": [["meet", {}], [method, args]]}

    @pytest.mark.compress(model="logged-mlp", method="pipeline", method_args=steps("int8-dynamic"),
                          max_accuracy_drop=0.05)
    def test_int8(compress_check):
        compress_check()

    @pytest.mark.compress(model="logged-mlp", method="pipeline", method_args=steps("prune-unstructured", sparsity=0.3))
    def test_prune30(compress_check):
        compress_check()

    @pytest.mark.compress(model="logged-mlp", method="pipeline", method_args=steps("noisy"), max_accuracy_drop=0.05)
    def test_noisy(compress_check):
        compress_check()
    """
)
CASES = 3


def overlaps(calls: list[tuple[int, float, float]]) -> int:
    """How many calls started while another process's call was still running."""
    found, last_end = 0, {}  # pid -> latest end so far
    for pid, start, end in sorted(calls, key=lambda c: c[1]):
        if any(e > start for p, e in last_end.items() if p != pid):
            found += 1
        last_end[pid] = max(end, last_end.get(pid, end))
    return found


def switches(calls: list[tuple[int, float, float]]) -> int:
    """How often, in time order, the next call comes from another process."""
    pids = [pid for pid, _, _ in sorted(calls, key=lambda c: c[1])]
    return sum(1 for a, b in zip(pids, pids[1:], strict=False) if a != b)


def read_log(path: Path) -> list[tuple[int, float, float]]:
    return [(int(p), float(s), float(e)) for p, s, e in (line.split() for line in path.read_text().splitlines())]


@pytest.fixture
def xproject(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(PROJECT_CONFTEST + LOGGED_MODEL)
    pytester.makepyfile(test_model=TESTS)
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.2\ncompress_latency_tolerance = 0.25\n")
    # This test's own lock file: what it holds is this test's business, not the host's other runs'.
    monkeypatch.setenv(timing_lock.ENV, str(pytester.path / "timing.lock"))
    monkeypatch.setenv("RENDEZVOUS_DIR", str(pytester.path / "rendezvous"))
    return pytester


def test_n2_equals_n0_and_never_times_concurrently(xproject: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    p = xproject.path
    stale = {"schema": 1, "cases": {"test_model.py::test_gone": {"size": {}}}}  # a test that no longer exists
    runs = {}
    for n in ("0", "2"):  # -n 0 trains the model into the cache; both workers reuse it
        (p / "baselines").mkdir()
        (p / "baselines" / "test_model.json").write_text(json.dumps(stale))
        monkeypatch.setenv("FORWARD_LOG", str(p / f"forward-{n}.log"))
        args = ("-n", n, "-p", "no:cacheprovider", "--compress-update-baselines", "--compress-draws=1")
        result = xproject.runpytest(*args, f"--compress-report=json:r{n}.json")
        result.assert_outcomes(passed=CASES - 1, failed=1)  # noisy fails its accuracy limit, in both
        result.stdout.fnmatch_lines(["*stale baseline entries in *test_model.json*: test_model.py::test_gone; removed"])
        runs[n] = json.loads((p / f"r{n}.json").read_text())
        if n == "2":
            result.stdout.fnmatch_lines_random(["*[[]pytest-compress] [[]gw0] met every worker", "*[[]gw1] met every*"])
        (p / "baselines").rename(p / f"b{n}")

    # Same rows and verdicts (timings aside), same header but for where the model came from.
    assert comparable_rows(runs["2"]) == comparable_rows(runs["0"])
    assert [r["verdict"] for r in runs["2"]["rows"]].count("fail: accuracy-drop") == 1
    assert runs["2"]["header"][1:] == runs["0"]["header"][1:]
    # Same baselines; the stale entry pruned by both (the workers' collections reached the controller).
    b2, b0 = ((p / d / "test_model.json").read_text() for d in ("b2", "b0"))
    assert "test_model.py::test_gone" not in json.loads(b2)["cases"]
    assert b2 == b0
    same_latency_files(p / "b2", p / "b0")

    # The lock was taken for every timed case, at this test's lock file.
    for row in runs["2"]["rows"]:
        assert TIMING_DETAILS <= set(row["details"])
        lock = row["details"]["timing_lock"]
        assert lock["path"] == str(p / "timing.lock") and lock["wait_s"] >= 0 and lock["held_s"] > 0
    # Two workers did the timing, one at a time: no timed call overlaps another process's, and each
    # case's timing is one unbroken stretch (at most one switch between processes per case).
    calls = read_log(p / "forward-2.log")
    assert len({pid for pid, _, _ in calls}) == 2
    assert overlaps(calls) == 0
    assert switches(calls) <= CASES - 1


LOCKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from pytest_compress.measure import timing_lock

    go, out = Path(sys.argv[1]), Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    lines = []
    for _ in range(5):
        with timing_lock.held():
            start = time.monotonic()
            time.sleep(0.03)
            lines.append(f"{os.getpid()} {start:.7f} {time.monotonic():.7f}")
    out.write_text("\\n".join(lines) + "\\n")
    """
)


@pytest.mark.parametrize("lock", ["on", timing_lock.OFF])
def test_two_processes_holding_the_lock_never_overlap(tmp_path: Path, lock: str) -> None:
    script = tmp_path / "locker.py"
    script.write_text(LOCKER)
    env = {**os.environ, timing_lock.ENV: str(tmp_path / "t.lock") if lock == "on" else timing_lock.OFF}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, str(script), str(go), str(tmp_path / f"out{i}")], env=env) for i in range(2)
    ]
    go.touch()  # both start at once
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    calls = [c for i in range(2) for c in read_log(tmp_path / f"out{i}")]
    assert len(calls) == 10
    if lock == "on":
        assert overlaps(calls) == 0
    else:  # the control: without the lock the same two processes do overlap, so the check can fail
        assert overlaps(calls) > 0


def test_hold_records_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(timing_lock.ENV, str(tmp_path / "sub" / "t.lock"))
    with timing_lock.held() as hold:
        pass
    assert hold.path == str(tmp_path / "sub" / "t.lock") and (tmp_path / "sub" / "t.lock").exists()
    assert hold.waited_s >= 0 and hold.held_s >= 0
    assert set(hold.to_dict()) == {"path", "wait_s", "held_s"}
    monkeypatch.setenv(timing_lock.ENV, "off")
    with timing_lock.held() as hold:
        assert hold.path == "" and "off" in hold.note
    monkeypatch.delenv(timing_lock.ENV)
    assert timing_lock.default_path() == Path(__import__("tempfile").gettempdir()) / timing_lock.NAME


def test_unusable_lock_file_names_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(timing_lock.TimingLockError, match=r"timing lock .*a-file/t.lock cannot be taken"):
        with timing_lock.held(blocker / "t.lock"):
            pass
