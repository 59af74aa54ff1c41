"""Registries of models and compression methods: one shape for both.

Built-ins are *declared* by module path and imported on first use, so loading the plugin
never imports torch; user code registers real objects with the same decorators the
built-in modules use (``register_model`` / ``register_method``).
"""

from __future__ import annotations

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


@dataclass
class Registry(Generic[T]):
    kind: str  # "model" or "method": used in error messages
    _entries: dict[str, Entry[T]] = field(default_factory=dict)

    def declare(self, name: str, module: str, summary: str = "") -> None:
        """Promise that importing ``module`` registers ``name`` (keeps torch out of plugin load)."""
        if name not in self._entries:
            self._entries[name] = Entry(name=name, module=module, summary=summary)

    def add(self, name: str, target: T, summary: str = "") -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        current = self._entries.get(name)
        if current is not None and current.target is not None and _origin(current.target) != _origin(target):
            # The same name from two places is almost always a copy-paste bug. The same place
            # registering again is a re-import (pytest re-imports conftest files) and replaces it.
            raise ValueError(
                f"{self.kind} {name!r} is already registered by {'.'.join(_origin(current.target))}; "
                "pick another name or remove one of the registrations"
            )
        self._entries[name] = Entry(name=name, target=target, summary=summary or _first_line(target))

    def replace(self, name: str, target: T) -> T:
        """Swap a registered entry for ``target`` and return the one it replaces (a declared
        built-in is imported first). For fault injection (``bench/inject.py``) and tests, where
        replacing a method on purpose is the point; ``add`` refuses it, to catch accidents."""
        previous = self.get(name)
        self._entries[name] = Entry(name=name, target=target, summary=self._entries[name].summary)
        return previous

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        entry = self._entry(name)
        if entry.target is None:
            assert entry.module is not None
            importlib.import_module(entry.module)
            entry = self._entries[name]
            if entry.target is None:
                raise RuntimeError(f"module {entry.module!r} was declared to register {self.kind} {name!r} but did not")
        return entry.target

    def check(self, name: str) -> None:
        self._entry(name)

    def _entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(self.names()) or '(none)'}"
            ) from None


def _origin(obj: Any) -> tuple[str, str]:
    fn = getattr(obj, "apply", obj)  # a Method is identified by its apply function
    return getattr(fn, "__module__", "?"), getattr(fn, "__qualname__", type(fn).__qualname__)


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def decorator(registry: Registry[Any], name: str, wrap: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def register(obj: Any) -> Any:
        registry.add(name, wrap(obj), summary=_first_line(obj))
        return obj

    return register
