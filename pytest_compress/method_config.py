"""Method configs and their versioned, allow-listed JSON form.

A config serialises to an envelope, ``{"type": <tag>, "version": <n>, "fields": {...}}``, in the
manner of torchao's config JSON: the tag says which config class wrote it, the version which
meaning its fields had. A baseline records the envelope, so a changed default, a renamed class or
a bumped version is reported as "the configuration changed" instead of surfacing as a size or
accuracy regression. Reading builds only the class the caller names (``Cfg.from_dict``) or the
config type of a registered method (``Method.config_from_dict``): a baseline file never chooses
which class is constructed.

Files written before the envelope hold the plain fields (``dataclasses.asdict``); ``envelope``
reads both forms, so old entries still compare field by field.

This module must stay importable without torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, TypeVar

__all__ = ["ConfigEnvelope", "ConfigError", "MethodConfig", "NoConfig", "config_fields", "envelope"]

C = TypeVar("C", bound="MethodConfig")
KEYS = frozenset({"type", "version", "fields"})


class ConfigError(ValueError):
    """A serialised config that cannot be built: another type, an unknown field, a bad value."""


@dataclass(frozen=True)
class MethodConfig:
    """Base class for method configs: frozen dataclasses validated in ``__post_init__``.

    ``label_fields`` are always shown in the report's method column (e.g. ``sparsity``), other
    fields only when they differ from their default. ``config_tag`` names the type in the
    serialised form (default: the class name); bump ``config_version`` when a field keeps its
    name but changes its meaning, so baselines recorded under the old meaning say so.
    """

    label_fields: ClassVar[tuple[str, ...]] = ()
    config_tag: ClassVar[str] = ""
    config_version: ClassVar[int] = 1

    @classmethod
    def tag(cls) -> str:
        return cls.config_tag or cls.__name__

    def fields_dict(self) -> dict[str, Any]:
        """The plain field values (``dataclasses.asdict``): what cache keys and adapters use."""
        return dataclasses.asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """The versioned envelope ``{"type", "version", "fields"}`` recorded with baselines."""
        return {"type": self.tag(), "version": self.config_version, "fields": self.fields_dict()}

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build ``cls`` from its envelope (or, from an older file, its plain fields). Refuses an
        envelope of another type or version and unknown fields: only the named class is built."""
        env = envelope(data)
        if env.type is not None and env.type != cls.tag():
            raise ConfigError(f"config of type {env.type!r} cannot be read as {cls.tag()!r}")
        if env.version is not None and env.version != cls.config_version:
            raise ConfigError(f"{cls.tag()} config version {env.version} is not the current {cls.config_version}")
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(env.fields) - known)
        if unknown:
            raise ConfigError(f"{cls.tag()} has no field(s) {', '.join(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in env.fields.items()}  # JSON lists
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{cls.tag()}: {exc}") from None

    def label(self) -> str:
        """Non-default fields, e.g. ``sparsity=0.7`` — what tells two rows of one method apart."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            if value != default or f.name in self.label_fields:
                parts.append(f"{f.name}={value}")
        return ",".join(parts)


@dataclass(frozen=True)
class NoConfig(MethodConfig):
    """For methods without options."""


class ConfigEnvelope(NamedTuple):
    type: str | None  # None: a plain-fields dict from before the envelope
    version: int | None
    fields: dict[str, Any]


def envelope(data: Any) -> ConfigEnvelope:
    """Either serialised form as an envelope; a plain dict is an old file's fields."""
    if not isinstance(data, Mapping):
        return ConfigEnvelope(None, None, {})
    if (
        set(data) == KEYS
        and isinstance(data["type"], str)
        and type(data["version"]) is int
        and isinstance(data["fields"], Mapping)
    ):
        return ConfigEnvelope(data["type"], data["version"], dict(data["fields"]))
    return ConfigEnvelope(None, None, dict(data))


def config_fields(data: Any) -> dict[str, Any]:
    """The field values of either serialised form (for reports: what the user set)."""
    return envelope(data).fields
