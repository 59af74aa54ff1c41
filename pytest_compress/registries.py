"""The registries a pytest session owns: models, methods, metrics and report formats.

Each pytest session (each ``Config``: a run, an in-process ``pytester`` run, an xdist worker)
gets its own :class:`Registries`, kept in ``config.stash``. It starts as a copy of the process's
registries (the built-in names, and what was registered before any session began: a module
imported by a script, a ``pytest11`` plugin or a ``-p`` module), and gains what is registered
while the session is *current*: its conftests and test modules, its ``pytest_compress_register``
hooks, its entry points. Another session never sees those, and they end with the session.

The module-level names stay the API: ``register_model`` / ``register_method`` /
``register_metric`` / ``register_reporter`` and ``MODELS`` / ``METHODS`` / ``METRICS`` /
``REPORTERS`` act on :func:`current`, the innermost session's registries (or the process's
when no session is running: a script, ``python -c``).

A session is current while pytest imports its initial conftests (``pytest_load_initial_conftests``)
and from its ``pytest_configure`` until its cleanup, so a nested in-process run (``pytester``)
is current inside the outer one and the outer is current again after it. Loading this module
imports nothing else of the plugin; the registries are built on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import pytest

from pytest_compress.registry import Entry, Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_compress.report.writers import ReportWriter
    from pytest_compress.spec import Method, Metric, ModelSpec

T = TypeVar("T")


@dataclass(frozen=True)
class Registries:
    """One session's registries, one per kind of thing a user registers."""

    models: Registry[Callable[[], ModelSpec]]
    methods: Registry[Method]
    metrics: Registry[Metric]
    reporters: Registry[ReportWriter]

    @classmethod
    def builtin(cls) -> Registries:
        """Only the built-in names (declared; their modules import on first use)."""
        from pytest_compress.spec import ACCURACY

        metrics: Registry[Metric] = Registry("metric")
        # ``accuracy`` is defined in spec.py, which is imported already: declared and filled here.
        metrics.declare(ACCURACY.name, "pytest_compress.spec", "top-1 accuracy")
        metrics.add(ACCURACY.name, ACCURACY, summary="top-1 accuracy")
        return cls(
            models=Registry("model", builtins="pytest_compress.zoo"),
            methods=Registry("method", builtins="pytest_compress.methods"),
            metrics=metrics,
            reporters=Registry("report format", builtins="pytest_compress.report.writers"),
        )

    def copy(self) -> Registries:
        return Registries(
            models=self.models.copy(),
            methods=self.methods.copy(),
            metrics=self.metrics.copy(),
            reporters=self.reporters.copy(),
        )


_process: Registries | None = None
_current: list[Registries] = []  # the sessions' registries, innermost last
KEY = pytest.StashKey[Registries]()


def process() -> Registries:
    """The registries of code running outside any pytest session."""
    global _process
    if _process is None:
        _process = Registries.builtin()
    return _process


def current() -> Registries:
    """The innermost running session's registries, else the process's."""
    return _current[-1] if _current else process()


def of(config: pytest.Config) -> Registries:
    """``config``'s registries, made on first ask from what the process has registered so far."""
    registries = config.stash.get(KEY, None)
    if registries is None:
        registries = config.stash[KEY] = process().copy()
    return registries


def enter(registries: Registries) -> None:
    _current.append(registries)


def leave(registries: Registries) -> None:
    """Stop ``registries`` being current (by identity: a session that ends out of order cannot
    unseat another's)."""
    for i in range(len(_current) - 1, -1, -1):
        if _current[i] is registries:
            del _current[i]
            return


@contextlib.contextmanager
def entered(registries: Registries) -> Iterator[Registries]:
    enter(registries)
    try:
        yield registries
    finally:
        leave(registries)


class Current(Generic[T]):
    """A module-level name (``METHODS`` ...) for the current registry of one kind: every call goes
    to the registry of the session running now."""

    def __init__(self, attr: str) -> None:
        self._attr = attr

    @property
    def now(self) -> Registry[T]:
        registry: Registry[T] = getattr(current(), self._attr)
        return registry

    @property
    def kind(self) -> str:
        return self.now.kind

    def declare(self, name: str, module: str, summary: str = "", *, package: str = "") -> None:
        self.now.declare(name, module, summary, package=package)

    def add(self, name: str, target: T, summary: str = "", *, override: bool = False) -> None:
        self.now.add(name, target, summary, override=override)

    def replace(self, name: str, target: T) -> T:
        return self.now.replace(name, target)

    def get(self, name: str) -> T:
        return self.now.get(name)

    def check(self, name: str) -> None:
        self.now.check(name)

    def entry(self, name: str) -> Entry[T]:
        return self.now.entry(name)

    def names(self) -> list[str]:
        return self.now.names()

    def adopt(self, name: str, module: str) -> bool:
        return self.now.adopt(name, module)

    def __contains__(self, name: object) -> bool:
        return name in self.now

    def __repr__(self) -> str:
        return f"<the current session's {self._attr} registry>"
