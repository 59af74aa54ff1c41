"""One row per (model, method) case, with every number and its unit; stable order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_compress.results import CaseResult
from pytest_compress.units import fmt_bytes, fmt_metric, fmt_metric_delta, fmt_ratio


@dataclass(frozen=True)
class Quantity:
    value: float | int
    unit: str


@dataclass(frozen=True)
class Row:
    test_id: str
    model: str
    method: str
    method_config: dict[str, Any]
    verdict: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    quantities: dict[str, Quantity]
    metric_name: str
    metric_unit: str
    size_encoding: str
    details: dict[str, Any]  # what the method reported (calibration size, control accuracy, ...)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "model": self.model,
            "method": self.method,
            "method_config": self.method_config,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "metric": self.metric_name,
            "size_encoding": self.size_encoding,
            "details": self.details,
            "measurements": {k: {"value": q.value, "unit": q.unit} for k, q in sorted(self.quantities.items())},
        }


def build_row(r: CaseResult) -> Row:
    s, m, lat = r.size, r.metric, r.latency
    q = {
        "size.reference": Quantity(s.reference_bytes, "bytes"),
        "size.compressed": Quantity(s.compressed_bytes, "bytes"),
        "size.reduction": Quantity(round(s.reduction, 4), "x"),
        "params.reference": Quantity(s.reference_params, "count"),
        "params.compressed": Quantity(s.compressed_params, "count"),
        "nonzero.reference": Quantity(s.reference_nonzero, "count"),
        "nonzero.compressed": Quantity(s.compressed_nonzero, "count"),
        "metric.reference": Quantity(round(m.reference, 6), m.unit),
        "metric.compressed": Quantity(round(m.compressed, 6), m.unit),
        "metric.drop": Quantity(round(m.drop, 6), m.unit),
        "metric.drop_ci_low": Quantity(round(m.drop_ci[0], 6), m.unit),
        "metric.drop_ci_high": Quantity(round(m.drop_ci[1], 6), m.unit),
        "metric.examples": Quantity(m.examples, "count"),
    }
    if m.mcnemar_p is not None:
        q["metric.mcnemar_p"] = Quantity(round(m.mcnemar_p, 6), "p-value")
    if lat is not None:
        q |= {
            "latency.reference": Quantity(round(lat.reference_ms, 4), "ms"),
            "latency.compressed": Quantity(round(lat.compressed_ms, 4), "ms"),
            "latency.speedup": Quantity(round(lat.speedup, 4), "x"),
            "latency.speedup_ci_low": Quantity(round(lat.speedup_ci[0], 4), "x"),
            "latency.speedup_ci_high": Quantity(round(lat.speedup_ci[1], 4), "x"),
            "latency.pairs": Quantity(lat.pairs, "count"),
            "latency.threads": Quantity(lat.threads, "count"),
        }
    return Row(
        test_id=r.test_id,
        model=r.model,
        method=r.method_label,
        method_config=r.method_config,
        verdict=r.verdict.label,
        reasons=r.verdict.reasons,
        notes=r.verdict.notes,
        quantities=q,
        metric_name=m.name,
        metric_unit=m.unit,
        size_encoding=s.encoding,
        details=dict(r.details),
    )


def build_rows(results: list[CaseResult]) -> list[Row]:
    return sorted((build_row(r) for r in results), key=lambda row: (row.model, row.method, row.test_id))


HEADERS = ("model", "method", "size", "smaller", "metric", "drop", "latency", "speedup", "verdict")


def cells(row: Row) -> tuple[str, ...]:
    q, unit = row.quantities, row.metric_unit
    lat = (
        f"{q['latency.reference'].value:.3f} -> {q['latency.compressed'].value:.3f} ms"
        if "latency.speedup" in q
        else "-"
    )
    return (
        row.model,
        row.method,
        f"{fmt_bytes(q['size.reference'].value)} -> {fmt_bytes(q['size.compressed'].value)}",
        fmt_ratio(q["size.reduction"].value),
        f"{row.metric_name} {fmt_metric(q['metric.reference'].value, unit)} -> "
        f"{fmt_metric(q['metric.compressed'].value, unit)}",
        f"{fmt_metric_delta(q['metric.drop'].value, unit)} "
        f"[{fmt_metric_delta(q['metric.drop_ci_low'].value, unit).removesuffix(' pt')}, "
        f"{fmt_metric_delta(q['metric.drop_ci_high'].value, unit)}]",
        lat,
        (
            f"{fmt_ratio(q['latency.speedup'].value)} "
            f"[{q['latency.speedup_ci_low'].value:.2f}, {q['latency.speedup_ci_high'].value:.2f}]"
            if "latency.speedup" in q
            else "-"
        ),
        row.verdict,
    )
