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

A ``Registry`` is one session's (``registries.py`` gives each pytest session its own). What a
module registers is also remembered here, per module (``_BY_MODULE``): Python runs a module once
per process, so a session that finds a declared module already imported by another session
adopts that module's registrations instead of waiting for an import that will not run again.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

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


@dataclass(frozen=True)
class _Made:
    """One registration as its module made it: what ``Registry.adopt`` replays."""

    entry: Entry[Any]
    override: bool


# (kind, registering module) -> {name: registration}; process-wide, see the module docstring.
_BY_MODULE: dict[tuple[str, str], dict[str, _Made]] = {}


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
            _BY_MODULE.setdefault((self.kind, declared.module), {})[name] = _Made(entry, override)
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
        _BY_MODULE.setdefault((self.kind, origin[0]), {})[name] = _Made(entry, override)

    def adopt(self, name: str, module: str) -> bool:
        """Replay what ``module`` registered as ``name`` when it was imported (in this process,
        for whichever registry was current then); False when it registered no such name. For a
        declared module that an earlier session imported: its code does not run again."""
        made = _BY_MODULE.get((self.kind, module), {}).get(name)
        if made is None:
            return False
        self._importing.append(module)  # a declared name is filled, whatever module defined the target
        try:
            self.add(name, made.entry.target, made.entry.summary, override=made.override)
        finally:
            self._importing.pop()
        return True

    def copy(self) -> Registry[T]:
        """An independent registry holding what this one holds now (a session starts from the
        process's registrations; what it adds later stays its own)."""
        return dataclasses.replace(
            self,
            _declared=dict(self._declared),
            _registered=dict(self._registered),
            _overrides=dict(self._overrides),
            _importing=[],
        )

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
            if entry.target is None and self.adopt(name, entry.module):  # imported by an earlier session
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
            + _elsewhere(self.kind, name)
        )

    def _load_builtins(self) -> None:
        if self._builtins_loaded or self.builtins is None:
            return
        self._builtins_loaded = True
        # A torch-free package holding only the table: reading it keeps plugin load light.
        table = importlib.import_module(self.builtins).BUILTIN
        for name, (module, summary) in table.items():
            self.declare(name, module, summary)


def _elsewhere(kind: str, name: str) -> str:
    """Where another session of this process got ``name`` from, when its module is still imported:
    Python will not run that module again, so this session never sees its registration."""
    for (k, module), made in _BY_MODULE.items():
        if k == kind and name in made and module in sys.modules:
            return (
                f" ({module} registered it while another pytest session of this process was running; "
                "registrations belong to the session that imports the module, and Python does not import it "
                "again: register it from a hook (pytest_compress_register) or a pytest_compress entry point)"
            )
    return ""


def _origin(obj: Any) -> tuple[str, str]:
    # A Method is identified by its apply function, a Metric by its score function.
    fn = getattr(obj, "apply", None) or getattr(obj, "score", None) or obj
    return getattr(fn, "__module__", "?"), getattr(fn, "__qualname__", type(fn).__qualname__)


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Adds(Protocol):
    """A registry, or the name of the current session's (``registries.Current``)."""

    def add(self, name: str, target: Any, summary: str = "", *, override: bool = False) -> None: ...


def decorator(registry: Adds, name: str, wrap: Callable[[Any], Any], *, override: bool = False) -> Callable[[Any], Any]:
    def register(obj: Any) -> Any:
        registry.add(name, wrap(obj), summary=_first_line(obj), override=override)
        return obj

    return register
