"""Registries of models and compression methods: one shape for both.

Built-ins are *declared* by module path and imported on first use, so loading the plugin
never imports torch; user code registers real objects with the same decorators the
built-in modules use (``register_model`` / ``register_method``).

Which entry a name resolves to never depends on import order. A registry knows its built-in
names from the start (the ``BUILTIN`` table of the package named by ``builtins``, read on first
use), and every name has three slots, highest first:

1. an *override* (``override=True``, or ``replace`` for fault injection);
2. a *registration* (the decorators, from a conftest or a plugin);
3. a *declaration* (a built-in, or a third-party package's entry point: ``entrypoints.py``),
   filled in when its module is imported.

A built-in module filling its own declaration never collides with anything. A registration
that reuses a built-in name, or a name another place registered, is an error naming both,
whichever came first; only ``override=True`` replaces, and it wins whichever came first.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(LookupError):
    """A model or method name that no one registered."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered thing: a name, the object (or the module that will register it) and a summary."""

    name: str
    target: T | None = None
    module: str | None = None  # set for lazily declared built-ins until they are imported
    summary: str = ""
    by: str = ""  # who registered it (``module.qualname``), for error messages
    package: str = ""  # the distribution whose entry point declared it ("" for a built-in)

    @property
    def holder(self) -> str:
        """Who holds the name, for error messages: a package, a built-in module or ``module.qualname``."""
        if self.package:
            return f"package {self.package} ({self.module})"
        return f"the built-in {self.module}" if self.module else self.by


@dataclass
class Registry(Generic[T]):
    kind: str  # "model" or "method": used in error messages
    # A package whose ``BUILTIN`` table ({name: (module, summary)}) is declared on first use.
    builtins: str | None = None
    _declared: dict[str, Entry[T]] = field(default_factory=dict)
    _registered: dict[str, Entry[T]] = field(default_factory=dict)
    _overrides: dict[str, Entry[T]] = field(default_factory=dict)
    _importing: list[str] = field(default_factory=list)  # declared modules get() is importing
    _builtins_loaded: bool = False

    def declare(self, name: str, module: str, summary: str = "", *, package: str = "") -> None:
        """Promise that importing ``module`` registers ``name`` (keeps torch out of plugin load).
        ``package`` names the distribution of an entry point that declares it."""
        current = self._declared.get(name)
        if current is not None and current.module != module:
            mine = f"package {package} ({module})" if package else module
            raise ValueError(f"{self.kind} {name!r} is declared by both {current.holder} and {mine}")
        if current is None:
            self._declared[name] = Entry(name=name, module=module, summary=summary, by=module, package=package)

    def add(self, name: str, target: T, summary: str = "", *, override: bool = False) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        self._load_builtins()
        origin = _origin(target)
        entry = Entry(name=name, target=target, summary=summary or _first_line(target), by=".".join(origin))
        declared = self._declared.get(name)
        if declared is not None and (origin[0] == declared.module or declared.module in self._importing):
            # The declared module registering what it declared (imported by get() or by anyone).
            self._declared[name] = dataclasses.replace(entry, module=declared.module, package=declared.package)
            return
        slot = self._overrides if override else self._registered
        current = slot.get(name)
        if current is not None and _origin(current.target) != origin:
            # The same name from two places is almost always a copy-paste bug. The same place
            # registering again is a re-import (pytest re-imports conftest files) and replaces it.
            raise ValueError(
                f"{self.kind} {name!r} is already registered{' with override=True' if override else ''} by "
                f"{current.by}; {entry.by} registers it again — pick another name or remove one of the registrations"
            )
        if not override and declared is not None:
            raise ValueError(
                f"{self.kind} {name!r} is already registered by {declared.holder}; {entry.by} "
                f"registers it again — pass override=True to replace {'it' if declared.package else 'the built-in'}, "
                "or pick another name"
            )
        slot[name] = entry

    def replace(self, name: str, target: T) -> T:
        """Swap a registered entry for ``target`` and return the one it replaces (a declared
        built-in is imported first). For fault injection (``bench/inject.py``) and tests, where
        replacing a method on purpose is the point; ``add`` refuses it, to catch accidents."""
        previous = self.get(name)
        summary = self._entry(name).summary
        self._overrides[name] = Entry(name=name, target=target, summary=summary, by=".".join(_origin(target)))
        return previous

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted({*self._declared, *self._registered, *self._overrides})

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._declared or name in self._registered or name in self._overrides

    def get(self, name: str) -> T:
        entry = self._entry(name)
        if entry.target is None:
            assert entry.module is not None
            self._importing.append(entry.module)
            try:
                importlib.import_module(entry.module)
            finally:
                self._importing.pop()
            entry = self._entry(name)
            if entry.target is None:
                raise RuntimeError(f"module {entry.module!r} was declared to register {self.kind} {name!r} but did not")
        return entry.target

    def check(self, name: str) -> None:
        self._entry(name)

    def entry(self, name: str) -> Entry[T]:
        """The entry ``name`` resolves to now (an override, a registration or a declaration),
        without importing a declared module."""
        return self._entry(name)

    def _entry(self, name: str) -> Entry[T]:
        self._load_builtins()
        for slot in (self._overrides, self._registered, self._declared):
            if name in slot:
                return slot[name]
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(self.names()) or '(none)'}"
        )

    def _load_builtins(self) -> None:
        if self._builtins_loaded or self.builtins is None:
            return
        self._builtins_loaded = True
        # A torch-free package holding only the table: reading it keeps plugin load light.
        table = importlib.import_module(self.builtins).BUILTIN
        for name, (module, summary) in table.items():
            self.declare(name, module, summary)


def _origin(obj: Any) -> tuple[str, str]:
    # A Method is identified by its apply function, a Metric by its score function.
    fn = getattr(obj, "apply", None) or getattr(obj, "score", None) or obj
    return getattr(fn, "__module__", "?"), getattr(fn, "__qualname__", type(fn).__qualname__)


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def decorator(
    registry: Registry[Any], name: str, wrap: Callable[[Any], Any], *, override: bool = False
) -> Callable[[Any], Any]:
    def register(obj: Any) -> Any:
        registry.add(name, wrap(obj), summary=_first_line(obj), override=override)
        return obj

    return register
