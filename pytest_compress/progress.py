"""Progress lines for long work (training), routed by the plugin to the terminal past capture."""

from __future__ import annotations

import sys
from collections.abc import Callable

_sink: Callable[[str], None] | None = None


def set_sink(sink: Callable[[str], None] | None) -> None:
    global _sink
    _sink = sink


def report(message: str) -> None:
    """Say what long-running work is doing, e.g. ``report("epoch 3/10 loss 0.21")``."""
    line = f"[pytest-compress] {message}"
    if _sink is not None:
        _sink(line)
    else:
        print(line, file=sys.stderr, flush=True)
