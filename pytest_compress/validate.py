"""Checks of what a user hands the plugin: marker keywords, ``method_args`` and what registered
functions return. Each failure is one sentence naming the field or function and what it takes.

Marker keywords are checked at collection, but a bad marker fails only its own test (at call
time, without a traceback): one typo must not stop a session, and ``-k`` can route around it.
Loading this module must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import pytest

from pytest_compress.methods import BUILTIN
from pytest_compress.registry import UnknownNameError
from pytest_compress.results import METHOD_RESULTS
from pytest_compress.spec import METHODS, MODELS, Artifact, SpecError
from pytest_compress.thresholds import Thresholds

MARKER = "compress"
CASE_KEYS = ("model", "method", "method_args")
MARKER_ERROR_KEY = pytest.StashKey[str]()


def case_params(
    kwargs: Mapping[str, Any], where: str, defaults: Thresholds | None = None
) -> tuple[dict[str, Any], Thresholds]:
    """Validate a marker's / call's keywords; raise ``pytest.UsageError`` naming what is valid."""
    valid = (*CASE_KEYS, *Thresholds.names())
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise pytest.UsageError(f"{where}: unknown compress keyword(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    case = {k: kwargs[k] for k in CASE_KEYS if k in kwargs}
    try:
        if "model" in case:
            MODELS.check(case["model"])
        if "method" in case:
            METHODS.check(case["method"])
        args = case.get("method_args")
        if args is not None and not isinstance(args, Mapping):
            raise SpecError(f"method_args must be a dict of the method's options, got {type(args).__name__}")
        if "method" in case and (args or case["method"] not in BUILTIN):
            # Built-in configs take no required options, so without args there is nothing to check
            # and no reason to import the method's module (and torch) at collection.
            _method_config(case["method"], args or {})
        thresholds = (defaults or Thresholds()).merged({k: v for k, v in kwargs.items() if k not in CASE_KEYS})
    except (UnknownNameError, ValueError, TypeError) as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    return case, thresholds


def _method_config(method: str, args: Mapping[str, Any]) -> None:
    """Build the method's config from ``args`` (unknown keys, bad values -> SpecError)."""
    try:
        m = METHODS.get(method)
    except ImportError:
        return  # a built-in whose optional dependency is missing: the case reports it when it runs
    m.make_config(args)


def marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    """Keywords of every ``compress`` marker on the item, the most specific winning.

    Order: module, class, function decorator, then ``pytest.param(..., marks=...)`` of the
    parameter set (pytest appends those to the function's own markers).
    """
    merged: dict[str, Any] = {}
    for node in item.listchain():
        for mark in node.own_markers:
            if mark.name != MARKER:
                continue
            if mark.args:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} takes keywords only, got {mark.args!r}")
            merged.update(mark.kwargs)
    return merged


def check_markers(items: list[pytest.Item]) -> None:
    """Collection: remember each bad marker on its item, to fail that test alone when it runs."""
    for item in items:
        if item.get_closest_marker(MARKER) is None:
            continue
        try:
            case_params(marker_kwargs(item), item.nodeid)
        except pytest.UsageError as exc:
            item.stash[MARKER_ERROR_KEY] = str(exc)


def fail(message: str) -> NoReturn:
    """Fail the running test with ``message`` alone: no traceback, and (``from None``) not the
    exception being handled, which pytest would otherwise print even with ``pytrace=False``."""
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None


def fail_bad_marker(item: pytest.Item) -> None:
    """Call time: fail the test whose marker was found bad at collection."""
    message = item.stash.get(MARKER_ERROR_KEY, None)
    if message is not None:
        fail(message)


def misuse_in(exc: BaseException) -> SpecError | None:
    """The :class:`SpecError` that ``exc`` is or was raised from (a model that failed to build is
    re-raised as a RuntimeError for its later cases), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SpecError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def built_module(model: str, module: Any) -> Any:
    """``build()``'s return value, which must be a torch module."""
    from torch import nn

    if not isinstance(module, nn.Module):
        raise SpecError(f"model {model!r}: build() returned {type(module).__name__}, expected a torch.nn.Module")
    return module


def method_output(method: str, out: Any) -> Any:
    """A method's return value, which must be a torch module or an :class:`Artifact` of one."""
    from torch import nn

    if isinstance(out, nn.Module):
        return out
    if not isinstance(out, Artifact):
        raise SpecError(
            f"method {method!r}: apply() returned {type(out).__name__}, "
            "expected a torch.nn.Module or a pytest_compress.Artifact"
        )
    if not isinstance(out.module, nn.Module):
        got = type(out.module).__name__
        raise SpecError(f"method {method!r}: Artifact.module is {got}, expected a torch.nn.Module")
    if not isinstance(out.payload, (bytes, bytearray)):
        raise SpecError(
            f"method {method!r}: Artifact.payload must be the bytes you would ship, got {type(out.payload).__name__}"
        )
    if not isinstance(out.encoding, str) or not out.encoding:
        raise SpecError(f"method {method!r}: Artifact.encoding must name the payload format, got {out.encoding!r}")
    results = out.results if isinstance(out.results, (tuple, list)) else [out.results]
    bad = [r for r in results if type(r) not in METHOD_RESULTS.values()]
    if bad:
        raise SpecError(
            f"method {method!r}: Artifact.results takes the built-in result types "
            f"({', '.join(sorted(c.__name__ for c in METHOD_RESULTS.values()))}), got {type(bad[0]).__name__}; "
            "report anything else in Artifact.details"
        )
    out.results = tuple(results)
    return out
