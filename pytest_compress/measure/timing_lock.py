"""One process times at a time on a host: a cross-process lock held only around latency timing.

Why: a speedup is a ratio of two timings taken on the same cores. Two pytest-xdist workers (or
two pytest runs, or two users' runs) timing at the same moment on shared cores slow each other
by an amount that changes from pair to pair, and interleaving (``latency.interleaved``) cancels
only drift that both sides of a pair see alike. So timing takes this lock, while training,
compressing and evaluating, which only need the right answer, run in parallel with it.

Where: one lock file per host, shared by every process that times: ``$PYTEST_COMPRESS_TIMING_LOCK``
if set, else ``pytest-compress-timing.lock`` in the system temporary directory (``/tmp`` on
Linux). Not under the project or the cache directory: two checkouts timing at once on one host
disturb each other just the same. The file is created readable and writable by every user, so
another user's run shares it; a file another user created with tighter permissions falls back to
a per-user lock next to it (said in the result). Set the variable to ``off`` to time without it
(a machine whose workers are pinned to cores of their own).

What is held: the interleaved timing of the reference and the compressed model, and of the
model's extra workloads (``runner._measure``). Peak memory (``measure/memory.py``) is not timed:
it reads a forked child's own resident pages, which another process's work does not change.

The lock is an ``flock`` (``filelock``): the kernel drops it when its holder dies, so a killed run
never leaves a host locked. Each result records how long it waited (``details.timing_lock``), so
contention is visible in the reports.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

ENV = "PYTEST_COMPRESS_TIMING_LOCK"
OFF = "off"
NAME = "pytest-compress-timing.lock"
# Another holder keeps the lock for one case's timing (seconds: the latency budget, per workload);
# an hour of waiting means something is wrong, and the error says which file.
TIMEOUT_S = 3600.0

_locks: dict[str, FileLock] = {}  # one per path: a second lock object on the same file would deadlock


class TimingLockError(RuntimeError):
    """The timing lock could not be taken; the message names the file and what to do."""


@dataclass
class Hold:
    """One hold of the timing lock: where, how long it waited for it, how long it held it."""

    path: str  # "" when the lock is off
    waited_s: float = 0.0
    held_s: float = 0.0
    note: str = ""  # e.g. a per-user fallback

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "wait_s": round(self.waited_s, 3), "held_s": round(self.held_s, 3)}
        return out | ({"note": self.note} if self.note else {})


def default_path() -> Path | None:
    """The host's lock file (``$PYTEST_COMPRESS_TIMING_LOCK`` or the temp directory's); None when off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() == OFF:
        return None
    return Path(value) if value else Path(tempfile.gettempdir()) / NAME


def _lock(path: Path) -> FileLock:
    key = str(path)
    if key not in _locks:
        # mode 0o666: another user's run on this host must be able to open (and so share) the file.
        _locks[key] = FileLock(key, mode=0o666, thread_local=False)
    return _locks[key]


def _per_user(path: Path) -> Path:
    return path.with_name(f"{path.stem}-uid{os.getuid() if hasattr(os, 'getuid') else 0}{path.suffix}")


@contextlib.contextmanager
def held(path: Path | None = None, timeout_s: float = TIMEOUT_S) -> Iterator[Hold]:
    """Hold the host's timing lock (``path``, else ``default_path()``) for the block; the yielded
    ``Hold`` says how long it waited and, once the block ends, how long it held the lock."""
    path = path if path is not None else default_path()
    if path is None:
        yield Hold(path="", note=f"timing lock off ({ENV}={OFF})")
        return
    hold = Hold(path=str(path))
    start = time.monotonic()
    try:
        lock = _acquire(path, timeout_s)
    except PermissionError:
        # Created by another user with tighter permissions: lock per user, and say so.
        fallback = _per_user(path)
        hold = Hold(path=str(fallback), note=f"{path} is not writable by this user; locked {fallback} instead")
        try:
            lock = _acquire(fallback, timeout_s)
        except PermissionError as exc:
            raise _unusable(fallback, exc) from None
    acquired = time.monotonic()
    hold.waited_s = acquired - start
    try:
        yield hold
    finally:
        hold.held_s = time.monotonic() - acquired
        lock.release()


def _acquire(path: Path, timeout_s: float) -> FileLock:
    """The lock on ``path``, taken; ``PermissionError`` passes (the caller falls back)."""
    lock = _lock(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise TimingLockError(
            f"timing lock {path}: another process has held it for over {timeout_s:.0f} s (a hung run timing on "
            f"this host?); find it with `fuser {path}`, or set {ENV} to another file"
        ) from None
    except PermissionError:
        raise
    except OSError as exc:
        raise _unusable(path, exc) from None
    return lock


def _unusable(path: Path, exc: OSError) -> TimingLockError:
    return TimingLockError(
        f"timing lock {path} cannot be taken ({type(exc).__name__}: {exc}); point {ENV} at a writable file, "
        f"or set {ENV}={OFF} to time without it"
    )
