"""Progress of long work (training, fine-tuning, draws), routed by the plugin to the terminal past
capture.

Each message is a line, ``[pytest-compress] ...``. A message may belong to a *step* (a model's
training, a fine-tune): on a terminal (a TTY) a step is one line, rewritten in place (``\\r``) by
each of its messages, so a 60-epoch training is one line that counts up; in a CI log, a pipe or a
file every message stays its own plain line, as it always was. A step's line ends when a message
of another step (or none) comes, when the step's ``with progress.step(...)`` block ends, and
before pytest writes a test's outcome (``finish``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

PREFIX = "[pytest-compress] "


class Output(Protocol):
    """Where progress goes. ``live`` says whether lines may be rewritten (a TTY)."""

    def live(self) -> bool: ...
    def line(self, text: str) -> None: ...  # a whole line, newline included
    def start(self, text: str) -> None: ...  # a line left open
    def rewrite(self, text: str) -> None: ...  # the open line replaced
    def end(self) -> None: ...  # the open line closed with a newline


class StderrLines:
    """Outside pytest (scripts, benches): plain lines on stderr."""

    def live(self) -> bool:
        return False

    def line(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def start(self, text: str) -> None:
        self.line(text)

    def rewrite(self, text: str) -> None:
        self.line(text)

    def end(self) -> None:
        pass


class SinkLines(StderrLines):
    """Plain lines through a ``write_line``-style callable (``set_sink``)."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self._sink = sink

    def line(self, text: str) -> None:
        self._sink(text)


_output: Output = StderrLines()
_open: str | None = None  # the step whose line is open (live output only)
_steps: list[str] = []  # the enclosing ``step`` blocks, innermost last


def set_output(output: Output | None) -> Output:
    """Route progress to ``output`` (None: stderr lines) and return where it went before (a
    nested in-process run puts it back); an open line is closed first."""
    global _output
    finish()
    previous, _output = _output, output if output is not None else StderrLines()
    return previous


def set_sink(sink: Callable[[str], None] | None) -> Output:
    """Plain lines through ``sink`` (None: stderr)."""
    return set_output(SinkLines(sink) if sink is not None else None)


def report(message: str, *, step: str | None = None) -> None:
    """Say what long-running work is doing, e.g. ``report("epoch 3/10 loss 0.21", step="my-mlp")``.

    ``step`` names the line this message updates on a terminal; inside a ``with step(...)`` block
    the block's name is used instead, so a whole model training is one line."""
    global _open
    text = PREFIX + message
    key = _steps[-1] if _steps else step
    if key is None or not _output.live():
        finish()
        _output.line(text)
    elif key == _open:
        _output.rewrite(text)
    else:
        finish()
        _output.start(text)
        _open = key


def forward(line: str) -> None:
    """A line already formatted, e.g. one an xdist worker sent to the controller (``session.py``)."""
    finish()
    _output.line(line)


def finish() -> None:
    """Close the open line (a step is done, or pytest is about to write)."""
    global _open
    if _open is not None:
        _open = None
        _output.end()


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Every message inside updates one line, ``name``'s (on a terminal); closed at the end."""
    _steps.append(name)
    try:
        yield
    finally:
        _steps.pop()
        if _open == name:
            finish()


class TerminalOutput:
    """pytest's terminal reporter, looked up at each call (it is registered after this plugin's
    ``pytest_configure``) and written past output capture. Live when it writes to a TTY."""

    def __init__(self, config: Any) -> None:
        self._config = config

    def _reporter(self) -> Any:
        return self._config.pluginmanager.getplugin("terminalreporter")

    def _write(self, write: Callable[[Any], None]) -> None:
        tr = self._reporter()
        if tr is None:
            return
        capman = self._config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            write(tr)

    def live(self) -> bool:
        tr = self._reporter()
        return tr is not None and bool(tr.isatty())

    def line(self, text: str) -> None:
        if self._reporter() is None:
            StderrLines().line(text)
        self._write(lambda tr: tr.write_line(text))

    def start(self, text: str) -> None:
        def write(tr: Any) -> None:
            tr.ensure_newline()  # pytest may be mid-line ("test_x.py ..")
            tr.write(self._fit(text), flush=True)

        self._write(write)

    def rewrite(self, text: str) -> None:
        self._write(lambda tr: tr.rewrite(self._fit(text), erase=True))

    def end(self) -> None:
        self._write(lambda tr: tr.write("\n", flush=True))

    def _fit(self, text: str) -> str:
        # A line wider than the terminal wraps, and "\r" would then rewrite only its last row.
        width = self._config.get_terminal_writer().fullwidth - 1
        return text if len(text) <= width else text[: max(0, width - 3)] + "..."
