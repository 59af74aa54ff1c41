"""Flat ``compress_*`` test properties: the case's headline numbers as ``(name, value)`` pairs.

pytest writes every ``report.user_properties`` entry into ``--junitxml`` as a ``<property>``
(its value through ``str()``), so CI dashboards that read JUnit XML see these without parsing
the full result (``session.PROPERTY``, a nested dict that the session reads back). Values are
plain strings and numbers, which also survive the trip from an xdist worker.

Torch-free, like every part of reporting.
"""

from __future__ import annotations

import math

from pytest_compress.results import CaseResult

PREFIX = "compress_"

Value = str | int | float


def _num(x: float, digits: int) -> Value:
    """Rounded; NaN and infinities as their names (JUnit readers choke on nothing, but be plain)."""
    return round(x, digits) if math.isfinite(x) else str(x)


def flat_properties(result: CaseResult) -> list[tuple[str, Value]]:
    """The case's headline numbers, each under a ``compress_`` name; latency only when timed."""
    s, m, lat = result.size, result.metric, result.latency
    props: list[tuple[str, Value]] = [
        ("model", result.model),
        ("method", result.method_label),
        ("size_reference_bytes", s.reference_bytes),
        ("size_compressed_bytes", s.compressed_bytes),
        ("size_reduction", _num(s.reduction, 4)),
        ("metric", m.name),
        ("metric_unit", m.unit),
        ("metric_reference", _num(m.reference, 6)),
        ("metric_compressed", _num(m.compressed, 6)),
        ("metric_drop", _num(m.drop, 6)),
        ("metric_drop_ci_low", _num(m.drop_ci[0], 6)),
        ("metric_drop_ci_high", _num(m.drop_ci[1], 6)),
    ]
    if lat is not None:
        props += [
            ("latency_reference_ms", _num(lat.reference_ms, 4)),
            ("latency_compressed_ms", _num(lat.compressed_ms, 4)),
            ("speedup", _num(lat.speedup, 4)),
            ("speedup_ci_low", _num(lat.speedup_ci[0], 4)),
            ("speedup_ci_high", _num(lat.speedup_ci[1], 4)),
            ("latency_pairs", lat.pairs),
        ]
    props += [
        ("verdict", result.verdict.status),
        ("verdict_label", result.verdict.label),
    ]
    if result.verdict.reasons:
        props.append(("reasons", "; ".join(result.verdict.reasons)))
    return [(PREFIX + name, value) for name, value in props]
