"""Cache of trained weights, so a second run does not retrain.

Entries are safetensors files keyed by a hash of everything that determines the weights: the
model's definition (module tree, parameter shapes, source of its build and train functions),
its training settings, the training data and the torch version. Each file carries a digest of
its tensors; an entry that fails to load, whose digest differs or whose tensors do not fit the
module exactly (``load_into``) is reported and rebuilt. Anything at an entry's path that is not a
regular file (a FIFO, a directory, a dangling symlink) is reported and never opened for a
blocking read: a cache must never hang or crash a run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import filelock
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from pytest_compress import atomic
from pytest_compress.formats.container import safetensors_metadata

CACHE_FORMAT = 1


class CacheWarning(UserWarning):
    """A cache entry could not be used and is being rebuilt."""


class _NotRegular(OSError):
    """Something other than a regular file sits at a cache entry's path."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device or other special file" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file (or a symlink to one); ``_NotRegular`` otherwise.

    Opened non-blocking and checked with fstat on the open descriptor, so a FIFO swapped in after
    any earlier check still cannot block the read (a FIFO's open waits for a writer otherwise).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _NotRegular(f"it is {_kind(mode)}, not a cache file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read()
    finally:
        os.close(fd)


def _mismatch(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str:
    """What keeps ``tensors`` from loading into a module whose state_dict is ``expected`` ("" if nothing)."""
    problems = []
    if missing := sorted(expected.keys() - tensors.keys()):
        problems.append(f"missing tensors {', '.join(missing)}")
    if extra := sorted(tensors.keys() - expected.keys()):
        problems.append(f"unexpected tensors {', '.join(extra)}")
    for k in sorted(expected.keys() & tensors.keys()):
        got, want = tensors[k], expected[k]
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(
                f"{k} is {got.dtype} {tuple(got.shape)}, the model expects {want.dtype} {tuple(want.shape)}"
            )
    return "; ".join(problems)


def _source(fn: Callable[..., Any] | None) -> str:
    """Source text of a build/train callable: editing the training code invalidates the cache.

    Never falls back to ``repr``: that holds a memory address and would change every run.
    """
    if fn is None:
        return ""
    if isinstance(fn, functools.partial):
        return f"{_source(fn.func)}|args={fn.args!r}|kwargs={sorted(fn.keywords.items())!r}"
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_key(
    model: nn.Module,
    *,
    build: Callable[..., Any],
    train: Callable[..., Any] | None,
    settings: dict[str, Any],
    train_data: tuple[torch.Tensor, ...] | None,
) -> str:
    parts = {
        "format": CACHE_FORMAT,
        "definition": repr(model),
        "shapes": [(k, list(v.shape), str(v.dtype)) for k, v in model.state_dict().items()],
        "build": _source(build),
        "train": _source(train),
        "settings": settings,
        "data": tensor_digest({str(i): t for i, t in enumerate(train_data)}) if train_data else "",
        "torch": torch.__version__.split("+")[0],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def source_of(*fns: Callable[..., Any]) -> str:
    """Source of the code a cached result depends on (for cache keys)."""
    return "\n".join(_source(fn) for fn in fns)


class ModelCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.root / "models" / f"{safe}-{key[:20]}.safetensors"

    def _warn(self, message: str) -> None:
        warnings.warn(CacheWarning(message), stacklevel=3)

    def load(self, name: str, key: str) -> dict[str, torch.Tensor] | None:
        """The entry's tensors if its file is intact, else ``None`` (a damaged file is reported and removed)."""
        path = self.path(name, key)
        try:
            payload = _read_regular(path)
        except FileNotFoundError:
            if os.path.lexists(path):
                self._warn(f"cache entry {path} is a dangling symlink; ignoring it (remove it)")
            return None
        except OSError as exc:  # not a regular file, unreadable, a parent that is not a directory
            reason = exc if isinstance(exc, _NotRegular) else f"{type(exc).__name__}: {exc}"
            self._warn(f"cache entry {path} cannot be used ({reason}); ignoring it (remove it)")
            return None
        try:
            tensors = st_load(payload)
            meta = safetensors_metadata(payload)
            if meta.get("key") != key or meta.get("digest") != tensor_digest(tensors):
                raise ValueError("digest or key mismatch")
        except Exception as exc:  # any damage at all means "rebuild", never "crash"
            self._warn(f"cache entry {path} is corrupt ({exc}); rebuilding it")
            self._discard(path)
            return None
        return tensors

    def load_into(self, name: str, key: str, module: nn.Module) -> bool:
        """Load the entry into ``module`` (strict): ``True`` on a clean load. An entry that is absent,
        damaged or does not fit the module exactly (a tensor missing, extra, reshaped or of another
        dtype) is a miss: it is reported, removed and ``module`` is left exactly as it was, so the
        caller rebuilds from the same starting point a run without the entry would."""
        tensors = self.load(name, key)
        if tensors is None:
            return False
        path = self.path(name, key)
        expected = module.state_dict()
        problem = _mismatch(tensors, expected)
        if not problem:
            before = {k: v.detach().clone() for k, v in expected.items()}
            try:
                module.load_state_dict(tensors, strict=True)
                return True
            except Exception as exc:  # e.g. a module's own _load_from_state_dict refusing it
                problem = f"{type(exc).__name__}: {exc}"
                module.load_state_dict(before, strict=True)
        self._warn(f"cache entry {path} does not load into the model ({problem}); rebuilding it")
        self._discard(path)
        return False

    def load_or_build(self, name: str, key: str, module: nn.Module, build: Callable[[], None]) -> bool:
        """``True`` when the entry loaded into ``module``; otherwise ``build()`` (which trains
        ``module`` and saves the entry) runs under the entry's lock and ``False`` is returned.

        The lock makes processes that share the cache (xdist workers, two runs) build an entry
        once: the second waits for the first and then loads what it saved instead of training
        the same weights beside it on the same cores."""
        if self.load_into(name, key, module):
            return True
        with self._entry_lock(name, key):
            if self.load_into(name, key, module):  # built by another process while we waited
                return True
            build()
        return False

    @contextlib.contextmanager
    def _entry_lock(self, name: str, key: str) -> Iterator[None]:
        """An OS file lock next to the entry (released by the kernel if its holder dies). A cache
        folder where no lock file can be made (read-only) builds without one: never fail a run."""
        lock = filelock.FileLock(f"{self.path(name, key)}.lock")
        try:
            self.path(name, key).parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except OSError as exc:
            self._warn(f"cache lock {lock.lock_file} cannot be taken ({type(exc).__name__}: {exc}); building unlocked")
            yield
            return
        try:
            yield
        finally:
            lock.release()

    @staticmethod
    def _discard(path: Path) -> None:
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):  # never remove what is not ours (a directory)
                path.unlink()
        except OSError:
            pass

    def trained(
        self, base_key: str, label: str, module: nn.Module, train: Callable[[nn.Module], None], key: dict[str, Any]
    ) -> str:
        """Weights a compression method trains, keyed by the reference model's key, the method's
        key and the module's architecture; loaded instead of retrained when all match."""
        full = hashlib.sha256(
            json.dumps(
                {
                    "base": base_key,
                    "label": label,
                    "key": key,
                    "definition": repr(module),
                    "shapes": [(k, list(v.shape)) for k, v in module.state_dict().items()],
                },
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()

        def build() -> None:
            train(module)
            self.save(label, full, module.state_dict(), {})

        return "cache" if self.load_or_build(label, full, module, build) else "trained"

    def save(self, name: str, key: str, state_dict: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
        """Write the entry atomically. A failure to write is reported, never raised: the run goes
        on uncached. A FIFO, socket or symlink at the path is replaced (``os.replace`` swaps the
        name, it never opens what was there); a directory is left alone and the entry skipped."""
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        metadata = {**meta, "model": name, "key": key, "digest": tensor_digest(tensors)}
        path = self.path(name, key)
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                self._warn(f"cache entry {path} is a directory; not caching {name} (remove the directory)")
                return path
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._warn(f"cache entry {path} cannot be written ({type(exc).__name__}: {exc}); not caching {name}")
            return path
        try:
            atomic.write_bytes(path, st_save(tensors, metadata=metadata))
        except OSError as exc:  # read-only or full disk, a file where the cache folder should be
            self._warn(f"cache entry {path} cannot be written ({type(exc).__name__}: {exc}); not caching {name}")
        return path
