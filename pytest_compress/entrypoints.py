"""Third-party models, methods, metrics and report formats from installed packages.

A package names what it adds in its ``pyproject.toml``::

    [project.entry-points."pytest_compress.methods"]
    half-prune = "my_pkg.methods:half_prune"

The entry point's name is the name it registers; importing its module must register it (with
``register_method("half-prune")`` ...). Loading is lazy: at ``pytest_configure`` only the
installed packages' metadata is read and each name *declared*; the module is imported the first
time a case uses the name, so ``pytest --help`` never imports a package's module (nor torch).

Two packages declaring one name is a usage error naming both. A name that is already taken (a
built-in, a conftest's) is replaced only explicitly: the package's module is then imported at
start-up and must register the name with ``override=True``, else it is a usage error too.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, EntryPoints, entry_points
from typing import Any

import pytest

from pytest_compress.registry import Registry

MODELS_GROUP = "pytest_compress.models"
METHODS_GROUP = "pytest_compress.methods"
METRICS_GROUP = "pytest_compress.metrics"
REPORTERS_GROUP = "pytest_compress.reporters"
GROUPS = (MODELS_GROUP, METHODS_GROUP, METRICS_GROUP, REPORTERS_GROUP)


def registries() -> dict[str, Registry[Any]]:
    """The current session's registries by entry-point group (``registries.py``)."""
    from pytest_compress.registries import current

    now = current()
    return {
        MODELS_GROUP: now.models,
        METHODS_GROUP: now.methods,
        METRICS_GROUP: now.metrics,
        REPORTERS_GROUP: now.reporters,
    }


@dataclass(frozen=True)
class Found:
    """One entry point of one installed distribution."""

    group: str
    name: str
    value: str
    module: str
    package: str

    @classmethod
    def of(cls, group: str, ep: EntryPoint) -> Found:
        dist = getattr(ep, "dist", None)
        package = getattr(dist, "name", None) or "?"
        return cls(group, ep.name, ep.value, ep.module, package)

    def __str__(self) -> str:
        return f"package {self.package} ({self.name} = {self.value!r})"


def discover(group: str, installed: EntryPoints | None = None) -> dict[str, Found]:
    """The group's entry points by name (metadata only; nothing imported), from ``installed``
    (all entry points, read once by ``load``) or read now. The same package seen twice on
    ``sys.path`` counts once; two packages with one name are a usage error."""
    by_name: dict[str, Found] = {}
    for ep in installed.select(group=group) if installed is not None else entry_points(group=group):
        found = Found.of(group, ep)
        current = by_name.get(found.name)
        if current is None or (current.package, current.value) == (found.package, found.value):
            by_name[found.name] = found
            continue
        raise pytest.UsageError(
            f"entry point {group} {found.name!r} is declared by two packages: {current} and {found}; "
            "uninstall one of them, or have one pick another name"
        )
    return by_name


def load(groups: dict[str, Registry[Any]] | None = None) -> None:
    """Declare every installed package's names in the registries; import only overrides."""
    installed = entry_points()  # one pass over the installed distributions' metadata for all groups
    for group, registry in (groups or registries()).items():
        for found in discover(group, installed).values():
            _declare(registry, found)


def _declare(registry: Registry[Any], found: Found) -> None:
    if found.name not in registry:
        registry.declare(found.name, found.module, package=found.package)
        return
    entry = registry.entry(found.name)
    if entry.package == found.package and entry.module == found.module:
        return  # declared already (pytest_configure ran twice in this process)
    # Taken: only an explicit override may replace it. Importing the module shows whether its
    # registration says override=True (registering without it raises, naming both).
    try:
        __import__(found.module)
        if not registry.entry(found.name).by.startswith(found.module):
            registry.adopt(found.name, found.module)  # imported by an earlier session: it will not run again
    except ValueError as exc:
        raise pytest.UsageError(f"entry point {found.group} of {found}: {exc}") from None
    entry = registry.entry(found.name)
    if not entry.by.startswith(found.module):
        raise pytest.UsageError(
            f"entry point {found.group} of {found}: {registry.kind} {found.name!r} is already registered by "
            f"{entry.holder}, and {found.module} did not register it with override=True"
        )
