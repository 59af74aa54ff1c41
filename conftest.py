"""Project-wide pytest setup. The plugin itself is loaded through its ``pytest11`` entry point."""

import os
from pathlib import Path

import pytest

# Nothing may be downloaded at run time: make any accidental hub access fail fast and loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

RUN_SLOW = "--run-slow"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        RUN_SLOW,
        action="store_true",
        default=False,
        help="also run the suites marked `slow` when a directory is collected (make report does)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`pytest suites/` leaves out the suites marked `slow` (they train for minutes on a cold
    cache), so a cold run of the directory stays within its time target. They run when asked for:
    `--run-slow`, any `-m` expression (which then decides alone), or their file named on the
    command line (`pytest suites/test_detection.py`). Deselected, not skipped: the report's
    deselected count says so, and a partial run never prunes their baseline entries."""
    if config.getoption(RUN_SLOW) or config.option.markexpr:
        return
    named = {Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args}
    keep, drop = [], []
    for item in items:
        slow = item.get_closest_marker("slow") is not None and item.path.resolve() not in named
        (drop if slow else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
