"""Renderers over rows: terminal and markdown via tabulate, JSON as data. No measuring here."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tabulate import tabulate

from pytest_compress.report.rows import ALSO, Row, cells, headers
from pytest_compress.report.writers import TERM, register_reporter

# 2: rows carry "storage" (Linear-weight accounting) and "method_results" (typed method reports),
# which left "details". 3: "results", each row's full result (``merge.py`` merges shards from it).
JSON_SCHEMA = 3


def table(rows: Sequence[Row], fmt: str) -> str:
    cols = headers(rows)
    with_also = ALSO in cols
    return tabulate([cells(r, with_also) for r in rows], headers=cols, tablefmt=fmt, disable_numparse=True)


def terminal_lines(rows: Sequence[Row], header: Iterable[str]) -> Iterator[str]:
    """Plain lines, so the summary is testable without a terminal."""
    yield from header
    if not rows:
        yield "no compression cases ran"
        return
    yield from table(rows, "simple").splitlines()
    for r in rows:
        for reason in r.reasons:
            yield f"FAIL {r.test_id}: {reason}"


@register_reporter(TERM)
def terminal_text(rows: Sequence[Row], header: Iterable[str]) -> str:
    return "\n".join(terminal_lines(rows, header)) + "\n"


@register_reporter("md")
def markdown(rows: Sequence[Row], header: Iterable[str]) -> str:
    lines = [f"{h}  " for h in header]  # two trailing spaces: a markdown line break
    reasons = [f"- FAIL `{r.test_id}`: {reason}" for r in rows for reason in r.reasons]
    return "\n".join([*lines, "", table(rows, "github"), "", *reasons, ""]).rstrip() + "\n"


@register_reporter("json")
def json_document(rows: Sequence[Row], header: Iterable[str]) -> str:
    doc = {
        "schema": JSON_SCHEMA,
        "header": list(header),
        "rows": [_json_safe(r.to_dict()) for r in rows],
        # rows[i]'s full result, for `python -m pytest_compress merge` (non-finite floats kept exactly)
        "results": [encode_floats(r.result.to_dict()) if r.result is not None else None for r in rows],
    }
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


NON_FINITE = "$float"  # {"$float": "nan" | "inf" | "-inf"}: a float JSON cannot hold, in "results"


def encode_floats(value: Any) -> Any:
    """``value`` with every NaN / infinity as ``{"$float": "nan"}``: strict JSON, read back exactly
    by ``decode_floats`` (a result that failed as non-finite must merge as non-finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {NON_FINITE: repr(value)}
    if isinstance(value, dict):
        return {k: encode_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_floats(v) for v in value]
    return value


def decode_floats(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {NON_FINITE} and value[NON_FINITE] in ("nan", "inf", "-inf"):
            return float(value[NON_FINITE])
        return {k: decode_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_floats(v) for v in value]
    return value


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or Infinity (a bare ``NaN`` token breaks strict readers): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
