"""Formatting numbers with their units, shared by gate messages and report renderers."""

from __future__ import annotations


def fmt_bytes(n: float) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def fmt_metric(value: float, unit: str) -> str:
    return f"{value * 100:.2f}%" if unit == "fraction" else f"{value:.4g}"


def fmt_metric_delta(value: float, unit: str) -> str:
    """A difference of two metric values; fractions are shown in percentage points."""
    return f"{value * 100:.2f} pt" if unit == "fraction" else f"{value:.4g}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}x"
