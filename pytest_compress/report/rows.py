"""One row per (model, method) case, with every number and its unit; stable order."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pytest_compress.method_config import config_fields
from pytest_compress.results import CaseResult
from pytest_compress.units import fmt_bytes, fmt_metric, fmt_metric_delta, fmt_ratio


@dataclass(frozen=True)
class Quantity:
    value: float | int
    unit: str


@dataclass(frozen=True)
class Samples:
    """One timed workload's per-sample seconds per call, reference and compressed (pair order)."""

    workload: str
    reference_s: tuple[float, ...]
    compressed_s: tuple[float, ...]
    calls_per_sample: int


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
    details: dict[str, Any]  # free-form extras of the method and the run (compile time, ...)
    extra_metrics: tuple[tuple[str, str], ...] = ()  # (name, unit) of secondary metrics
    workloads: tuple[str, ...] = ()  # names of extra latency workloads
    # Which threshold gates the user's limits added (empty: the case is held only to its baseline),
    # how the baseline comparison was made (exact / spread / tolerance / missing / written) and,
    # for spread, each gated quantity's band and value now.
    limits: tuple[str, ...] = ()
    baseline_comparison: str = ""
    spread: dict[str, Any] | None = None
    # The payload format's Linear-weight accounting (None: no breakdown) and the method's typed
    # reports (sparsity, calibration, distillation control, adapter recovery), as dicts.
    storage: dict[str, Any] | None = None
    method_results: tuple[dict[str, Any], ...] = ()
    # The JSON row as plugins amended it (``pytest_compress_json_row``); None: not amended.
    amended: dict[str, Any] | None = None
    # Peak inference memory of both models and what each number is (measure/memory.py); None:
    # not measured.
    memory: dict[str, Any] | None = None
    # Raw timing samples (forward first, then workloads), for formats that want distributions;
    # not part of ``to_dict`` (they would swamp the JSON report).
    samples: tuple[Samples, ...] = ()
    # The full result the row was built from: the JSON report carries it so that CI shards' reports
    # merge into one report and one baseline update (``merge.py``). Not part of ``to_dict``.
    result: CaseResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as the JSON report writes it (and as report formats may read it)."""
        if self.amended is not None:
            return self.amended
        return {
            "test_id": self.test_id,
            "model": self.model,
            "method": self.method,
            "method_config": self.method_config,
            "verdict": self.verdict,
            "limits_checked": list(self.limits),
            "baseline": {"comparison": self.baseline_comparison, "spread": self.spread or {}},
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "metric": self.metric_name,
            "size_encoding": self.size_encoding,
            "storage": self.storage,
            "memory": self.memory,
            "method_results": list(self.method_results),
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
    for em in r.extra_metrics:
        q |= {
            f"extra.{em.name}.reference": Quantity(round(em.reference, 6), em.unit),
            f"extra.{em.name}.compressed": Quantity(round(em.compressed, 6), em.unit),
        }
    for t in r.extra_latency:
        q |= {
            f"latency.{t.workload}.reference": Quantity(round(t.reference_ms, 4), "ms"),
            f"latency.{t.workload}.compressed": Quantity(round(t.compressed_ms, 4), "ms"),
            f"latency.{t.workload}.speedup": Quantity(round(t.speedup, 4), "x"),
        }
    if r.memory is not None:
        q |= {
            "memory.reference": Quantity(r.memory.reference_bytes, "bytes"),
            "memory.compressed": Quantity(r.memory.compressed_bytes, "bytes"),
            "memory.ratio": Quantity(round(r.memory.ratio, 4), "x"),
        }
    if r.storage is not None:
        q["linear.bits_per_weight"] = Quantity(r.storage.bits_per_weight, "bits")
    return Row(
        test_id=r.test_id,
        model=r.model,
        method=r.method_label,
        method_config=config_fields(r.method_config),  # what the user set, without the envelope
        verdict=r.verdict.label,
        reasons=r.verdict.reasons,
        notes=r.verdict.notes,
        quantities=q,
        metric_name=m.name,
        metric_unit=m.unit,
        size_encoding=s.encoding,
        details=dict(r.details),
        extra_metrics=tuple((em.name, em.unit) for em in r.extra_metrics),
        workloads=tuple(t.workload for t in r.extra_latency),
        limits=r.verdict.limits,
        baseline_comparison=r.verdict.baseline,
        spread=dict(r.verdict.spread),
        storage=asdict(r.storage) if r.storage is not None else None,
        method_results=tuple(m.to_dict() for m in r.method_results),
        memory=asdict(r.memory) if r.memory is not None else None,
        samples=tuple(
            Samples(t.workload, t.reference_s, t.compressed_s, t.calls_per_sample)
            for t in (lat, *r.extra_latency)
            if t is not None and t.reference_s
        ),
        result=r,
    )


def row_order(row: Row) -> tuple[str, str, str]:
    """The order every report lists rows in."""
    return (row.model, row.method, row.test_id)


def build_rows(results: list[CaseResult]) -> list[Row]:
    return sorted((build_row(r) for r in results), key=row_order)


HEADERS = ("model", "method", "size", "smaller", "metric", "drop", "latency", "speedup", "verdict")
ALSO = "also measured"  # an extra column, shown when some row has secondary metrics or workloads


def headers(rows: list[Row]) -> tuple[str, ...]:
    return (*HEADERS, ALSO) if any(has_also(r) for r in rows) else HEADERS


def has_also(row: Row) -> bool:
    return bool(row.extra_metrics or row.workloads or "linear.bits_per_weight" in row.quantities or row.memory)


def also(row: Row) -> str:
    """Secondary metrics (compressed value), extra workloads' speedups, Linear bits per weight,
    peak inference memory (reference -> compressed)."""
    q = row.quantities
    parts = [f"{name} {fmt_metric(q[f'extra.{name}.compressed'].value, unit)}" for name, unit in row.extra_metrics]
    parts += [f"{w} {fmt_ratio(q[f'latency.{w}.speedup'].value)}" for w in row.workloads]
    if "linear.bits_per_weight" in q:
        parts.append(f"{q['linear.bits_per_weight'].value:.2f} bits/weight")
    if "memory.compressed" in q:
        parts.append(f"peak mem {fmt_bytes(q['memory.reference'].value)} -> {fmt_bytes(q['memory.compressed'].value)}")
    return "; ".join(parts) or "-"


def cells(row: Row, with_also: bool = False) -> tuple[str, ...]:
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
        *((also(row),) if with_also else ()),
    )
