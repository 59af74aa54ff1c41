"""Progress lines for long work (training), routed by the plugin to the terminal past capture."""

from __future__ import annotations

import sys
from collections.abc import Callable

PREFIX = "[pytest-compress] "
_sink: Callable[[str], None] | None = None


def set_sink(sink: Callable[[str], None] | None) -> None:
    global _sink
    _sink = sink


def report(message: str) -> None:
    """Say what long-running work is doing, e.g. ``report("epoch 3/10 loss 0.21")``."""
    forward(f"{PREFIX}{message}")


def forward(line: str) -> None:
    """A line already formatted, e.g. one an xdist worker sent to the controller (``session.py``)."""
    if _sink is not None:
        _sink(line)
    else:
        print(line, file=sys.stderr, flush=True)
