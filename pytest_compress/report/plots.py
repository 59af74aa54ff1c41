"""Pareto plots as PNG bytes (matplotlib, Agg canvas): per model, accuracy drop against size
reduction and against speedup, intervals as error bars, the frontier drawn.

matplotlib is imported inside :func:`render`, so only an html report or ``--compress-plots``
loads it; ``pytest --help`` never does.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from pytest_compress import atomic
from pytest_compress.report.pareto import AXES, Point, by_model, drop_scale, frontier, points
from pytest_compress.report.rows import Row

MISSING = "plots need matplotlib: pip install matplotlib"


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plots(rows: Sequence[Row]) -> Iterator[tuple[str, str, bytes]]:
    """``(model, axis, png)`` for every model and axis with at least one point, models sorted."""
    for model, model_rows in by_model(rows).items():
        for axis in AXES:
            pts = points(model_rows, axis)
            if pts:
                _, ylabel = drop_scale(model_rows[0])
                yield model, axis, render(model, axis, pts, ylabel)


def render(model: str, axis: str, pts: Sequence[Point], ylabel: str) -> bytes:
    """One plot as PNG bytes; the same points give the same bytes (no timestamp in the file)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable(MISSING) from None
    # A Figure on its own Agg canvas, not pyplot: no global state, no GUI backend chosen.
    fig = Figure(figsize=(9.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    front = frontier(pts)
    on_front = set(front)
    # Points are numbered on the plot and named in the legend: method labels are long and cases
    # often sit on top of each other (same size, speedup 1.00x).
    for i, p in enumerate(pts, 1):
        ax.errorbar(
            [p.x],
            [p.y],
            xerr=_err(p.x, p.x_low, p.x_high),
            yerr=_err(p.y, p.y_low, p.y_high),
            fmt="o",
            color="tab:blue" if p in on_front else "tab:gray",
            capsize=3,
            label=f"{i}  {p.label}",
        )
        ax.annotate(str(i), (p.x, p.y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.plot([p.x for p in front], [p.y for p in front], "--", color="tab:blue", label="Pareto frontier (blue)")
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set_xlabel(AXES[axis][3])
    ax.set_ylabel(ylabel)
    ax.set_title(f"{model}: drop vs. {axis}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _err(v: float, low: float | None, high: float | None) -> list[list[float]] | None:
    """Asymmetric error bar lengths; none without an interval."""
    if low is None or high is None:
        return None
    return [[max(v - low, 0.0)], [max(high - v, 0.0)]]


def file_name(model: str, axis: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model)}-{axis}.png"


def write_plots(rows: Sequence[Row], directory: Path) -> list[Path]:
    """``--compress-plots=DIR``: one PNG per model and axis, written atomically."""
    written = []
    for model, axis, png in plots(rows):
        path = directory / file_name(model, axis)
        atomic.write_bytes(path, png)
        written.append(path)
    return written
