"""Pareto points of a model's cases: accuracy drop against size reduction or speedup, with their
intervals, and the frontier of cases no other case beats on both. Pure data: no matplotlib here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_compress.report.rows import Row

# axis -> (x quantity, its interval's low and high quantities; None: no interval, x label)
AXES: dict[str, tuple[str, str | None, str | None, str]] = {
    "size": ("size.reduction", None, None, "size reduction (x, higher is better)"),
    "speedup": (
        "latency.speedup",
        "latency.speedup_ci_low",
        "latency.speedup_ci_high",
        "speedup (x, higher is better)",
    ),
}


@dataclass(frozen=True)
class Point:
    """One case: x is better higher (reduction, speedup), y better lower (drop); intervals as bounds."""

    label: str
    x: float
    y: float
    x_low: float | None = None
    x_high: float | None = None
    y_low: float | None = None
    y_high: float | None = None


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` on both axes and better on one."""
    return a.x >= b.x and a.y <= b.y and (a.x > b.x or a.y < b.y)


def frontier(points: Iterable[Point]) -> list[Point]:
    """The points no other point dominates, by increasing x (ties: by y, then label)."""
    pts = list(points)
    front = [p for p in pts if not any(dominates(q, p) for q in pts)]
    return sorted(front, key=lambda p: (p.x, p.y, p.label))


def drop_scale(row: Row) -> tuple[float, str]:
    """A fraction's drop is plotted in percentage points, as the tables print it."""
    if row.metric_unit == "fraction":
        return 100.0, f"{row.metric_name} drop (pt, lower is better)"
    unit = f" ({row.metric_unit})" if row.metric_unit else ""
    return 1.0, f"{row.metric_name} drop{unit}, lower is better"


def points(rows: Sequence[Row], axis: str) -> list[Point]:
    """One point per row with a finite value on both axes (a case without timing has no speedup)."""
    x_key, lo_key, hi_key, _ = AXES[axis]
    out = []
    for r in rows:
        q = r.quantities
        if x_key not in q:
            continue
        scale, _ = drop_scale(r)
        x, y = float(q[x_key].value), float(q["metric.drop"].value) * scale
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        out.append(
            Point(
                label=r.method,
                x=x,
                y=y,
                x_low=_finite(q[lo_key].value) if lo_key and lo_key in q else None,
                x_high=_finite(q[hi_key].value) if hi_key and hi_key in q else None,
                y_low=_scaled(q, "metric.drop_ci_low", scale),
                y_high=_scaled(q, "metric.drop_ci_high", scale),
            )
        )
    return out


def by_model(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Rows grouped by model, models in sorted order (rows keep their report order)."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.model, []).append(r)
    return dict(sorted(groups.items()))


def _finite(value: float | int) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _scaled(q: dict, key: str, scale: float) -> float | None:
    if key not in q:
        return None
    v = _finite(q[key].value)
    return None if v is None else v * scale
