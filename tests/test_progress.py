"""Progress: one line per step, rewritten in place, on a terminal; plain lines otherwise (CI logs)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Imported before any in-process pytester run (pytester drops what a run imported; torch cannot
# be imported twice in one process).
import torch  # noqa: F401

from pytest_compress import progress

P = progress.PREFIX
ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """An ``Output`` that records what it was asked to write."""

    def __init__(self, live: bool) -> None:
        self.is_live, self.calls = live, []

    def live(self) -> bool:
        return self.is_live

    def line(self, text: str) -> None:
        self.calls.append(("line", text))

    def start(self, text: str) -> None:
        self.calls.append(("start", text))

    def rewrite(self, text: str) -> None:
        self.calls.append(("rewrite", text))

    def end(self) -> None:
        self.calls.append(("end", ""))


@pytest.fixture
def recorder(request: pytest.FixtureRequest):  # noqa: ANN201
    out = Recorder(live=request.param)
    previous = progress.set_output(out)
    yield out
    progress.set_output(previous)


def _work() -> None:
    for epoch in (1, 2, 3):
        progress.report(f"m: epoch {epoch}/3", step="m")
    with progress.step("train n"):
        progress.report("training n ...")
        progress.report("n: epoch 1/1", step="n")  # inside a step block the block's line is used
        progress.report("trained n")
    progress.report("baseline written")


@pytest.mark.parametrize("recorder", [False], indirect=True)
def test_not_a_terminal_every_message_is_its_own_line(recorder: Recorder) -> None:
    _work()
    assert recorder.calls == [
        ("line", f"{P}m: epoch 1/3"),
        ("line", f"{P}m: epoch 2/3"),
        ("line", f"{P}m: epoch 3/3"),
        ("line", f"{P}training n ..."),
        ("line", f"{P}n: epoch 1/1"),
        ("line", f"{P}trained n"),
        ("line", f"{P}baseline written"),
    ]


@pytest.mark.parametrize("recorder", [True], indirect=True)
def test_on_a_terminal_each_step_is_one_rewritten_line(recorder: Recorder) -> None:
    _work()
    assert recorder.calls == [
        ("start", f"{P}m: epoch 1/3"),
        ("rewrite", f"{P}m: epoch 2/3"),
        ("rewrite", f"{P}m: epoch 3/3"),
        ("end", ""),  # another step begins
        ("start", f"{P}training n ..."),
        ("rewrite", f"{P}n: epoch 1/1"),
        ("rewrite", f"{P}trained n"),
        ("end", ""),  # the step block ended
        ("line", f"{P}baseline written"),
    ]


# -- through pytest's terminal reporter -------------------------------------------------------

FAKE_TTY = textwrap.dedent(
    """
    import os
    import pytest

    @pytest.hookimpl(trylast=True)
    def pytest_configure(config):
        if os.environ.get("FAKE_TTY"):  # what a terminal reporter writing to a TTY says
            config.pluginmanager.getplugin("terminalreporter").isatty = lambda: True
    """
)

FIT = textwrap.dedent(
    """
    import torch
    from pytest_compress.training import TrainSettings, fit

    def test_fit():
        x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        fit(torch.nn.Linear(4, 2), (x, y), TrainSettings(epochs=3, lr=0.01), name="tiny")
    """
)


def _raw_run(path: Path, *args: str, tty: bool) -> str:
    """stdout of a pytest subprocess in ``path``, as written: pytester's results split lines at
    "\r" too, which is exactly what these tests look at."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("FAKE_TTY", None)
    if tty:
        env["FAKE_TTY"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    # Bytes: text mode would turn each "\r" into a newline.
    done = subprocess.run(cmd, cwd=path, env=env, capture_output=True, timeout=600)
    out = done.stdout.decode()
    assert done.returncode == 0, out + done.stderr.decode()
    return out


def _lines_with(out: str, text: str) -> list[str]:
    return [line for line in out.split("\n") if text in line]


def test_in_a_ci_log_the_training_lines_are_plain(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(FAKE_TTY)
    pytester.makepyfile(test_fit=FIT)
    out = _raw_run(pytester.path, tty=False)
    assert "\r" not in out
    lines = _lines_with(out, "tiny: epoch")
    assert [line.split(" loss ")[0] for line in lines] == [f"{P}tiny: epoch {e}/3" for e in (1, 2, 3)]


@pytest.mark.parametrize("verbosity", ["-q", "-v"])
def test_on_a_tty_the_training_is_one_updating_line(pytester: pytest.Pytester, verbosity: str) -> None:
    pytester.makeconftest(FAKE_TTY)
    pytester.makepyfile(test_fit=FIT)
    out = _raw_run(pytester.path, verbosity, tty=True)
    (line,) = _lines_with(out, "tiny: epoch")  # one physical line, rewritten with "\r"
    shown = [part.split(" loss ")[0] for part in line.split("\r") if part]
    assert shown == [f"{P}tiny: epoch {e}/3" for e in (1, 2, 3)]
    assert "PASSED" not in line and not line.rstrip().endswith(".")  # closed before pytest wrote the outcome


def test_on_a_tty_a_model_training_is_one_line(project: pytest.Pytester) -> None:
    """The real path: a case whose reference model is trained (no cache yet)."""
    project.makeconftest((project.path / "conftest.py").read_text() + FAKE_TTY)
    args = ("-k", "test_int8", "--compress-update-baselines", "--compress-draws=1")
    out = _raw_run(project.path, *args, tty=True)
    (line,) = _lines_with(out, "blobs-mlp")
    assert line.startswith(f"{P}training blobs-mlp (no valid cache entry)") and f"\r{P}trained blobs-mlp in " in line
    plain = _raw_run(project.path, *args, "--compress-cache-dir=fresh", tty=False)  # trains again
    assert "\r" not in plain
    assert len(_lines_with(plain, f"{P}training blobs-mlp (no valid cache entry)")) == 1
    assert len(_lines_with(plain, f"{P}trained blobs-mlp in ")) == 1
