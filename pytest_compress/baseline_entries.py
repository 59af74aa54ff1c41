"""What one baseline entry holds: the quality entry (size and metric, machine-independent) and the
latency entry (speedups on one machine), and how a result becomes each.

A quality entry also records what was measured — model, method, the method's versioned config
and the metric's definition — so a later run that measures something else is told "the
configuration changed" (``baseline_drift``) rather than shown a size or accuracy regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_compress.measure.latency import SPEEDUP_ESTIMATOR
from pytest_compress.results import CaseResult
from pytest_compress.spread import Spread

DIGITS = 6  # stored precision: stable across platforms, readable in a diff


@dataclass(frozen=True)
class QualityBaseline:
    reference_bytes: int
    compressed_bytes: int
    metric_name: str
    metric_unit: str
    reference_metric: float
    compressed_metric: float
    artifact_sha256: str = ""  # optional: absent in hand-written entries
    # What the case compressed (runner.reference_digest); "" in files written before it existed.
    reference_sha256: str = ""
    eval_sha256: str = ""  # runner.data_digest
    # The kernel set the entry was measured under (Fingerprint.kernels): evaluation under another
    # one rounds differently, so only the same kernels must reproduce an identical artifact's
    # metric bit for bit. "" in files written before it was recorded.
    kernels: str = ""
    # The K draws a refresh recorded (draw 0 first); None in files written before spreads existed.
    spread: Spread | None = None
    # What was measured, compared by ``baseline_drift`` ("" / None: not recorded, not compared).
    model: str = ""
    method: str = ""
    method_config: Any = None  # the config's envelope, or an older file's plain fields
    metric_definition: str = ""
    metric_aggregate: str = "mean"
    metric_higher_is_better: bool | None = None  # None in files written before it was recorded

    @classmethod
    def from_result(cls, r: CaseResult, with_spread: bool = True) -> QualityBaseline:
        draws = (r.as_draw(0), *r.draws)
        return cls(
            reference_bytes=r.size.reference_bytes,
            compressed_bytes=r.size.compressed_bytes,
            metric_name=r.metric.name,
            metric_unit=r.metric.unit,
            reference_metric=round(r.metric.reference, DIGITS),
            compressed_metric=round(r.metric.compressed, DIGITS),
            artifact_sha256=r.artifact_sha256,
            reference_sha256=r.reference_sha256,
            eval_sha256=r.eval_sha256,
            kernels=str(r.fingerprint.get("kernels", "")),
            spread=Spread.from_values(
                [d.reference_metric for d in draws],
                [d.compressed_metric for d in draws],
                [d.compressed_bytes for d in draws],
                r.metric.higher_is_better,
            )
            if with_spread
            else None,
            model=r.model,
            method=r.method,
            method_config=r.method_config,
            metric_definition=r.metric.definition,
            metric_aggregate=r.metric.aggregate,
            metric_higher_is_better=r.metric.higher_is_better,
        )

    def to_json(self, r: CaseResult) -> dict[str, Any]:
        doc = {
            "model": r.model,
            "method": r.method,
            "method_config": r.method_config,
            "size": {
                "reference_bytes": self.reference_bytes,
                "compressed_bytes": self.compressed_bytes,
                "encoding": r.size.encoding,
                "artifact_sha256": self.artifact_sha256,
            },
            "metric": {
                "name": self.metric_name,
                "unit": self.metric_unit,
                "reference": self.reference_metric,
                "compressed": self.compressed_metric,
                "examples": r.metric.examples,
                "higher_is_better": r.metric.higher_is_better,
            },
            "reference_sha256": self.reference_sha256,
            "eval_sha256": self.eval_sha256,
            "kernels": self.kernels,
        }
        if self.spread is not None:
            doc["spread"] = self.spread.to_json(DIGITS)
        # Recorded for the reader of a diff (the secondary metrics), and so that a later run can
        # tell a changed definition from a regression (``baseline_drift``); of the numbers, only
        # the primary metric and size are compared.
        if r.metric.definition:
            doc["metric"]["definition"] = r.metric.definition
        if r.metric.aggregate != "mean":
            doc["metric"]["aggregate"] = r.metric.aggregate
        if r.extra_metrics:
            doc["extra_metrics"] = {
                m.name: {
                    "unit": m.unit,
                    "reference": round(m.reference, DIGITS),
                    "compressed": round(m.compressed, DIGITS),
                    **({"definition": m.definition} if m.definition else {}),
                }
                for m in r.extra_metrics
            }
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QualityBaseline:
        return cls(
            reference_bytes=int(data["size"]["reference_bytes"]),
            compressed_bytes=int(data["size"]["compressed_bytes"]),
            metric_name=str(data["metric"]["name"]),
            metric_unit=str(data["metric"]["unit"]),
            reference_metric=float(data["metric"]["reference"]),
            compressed_metric=float(data["metric"]["compressed"]),
            artifact_sha256=str(data["size"].get("artifact_sha256", "")),
            reference_sha256=str(data.get("reference_sha256", "")),
            eval_sha256=str(data.get("eval_sha256", "")),
            kernels=str(data.get("kernels", "")),
            spread=Spread.from_json(data["spread"]) if data.get("spread") is not None else None,
            model=str(data.get("model", "")),
            method=str(data.get("method", "")),
            method_config=data.get("method_config"),
            metric_definition=str(data["metric"].get("definition", "")),
            metric_aggregate=str(data["metric"].get("aggregate", "mean")),
            metric_higher_is_better=data["metric"].get("higher_is_better"),
        )


@dataclass(frozen=True)
class LatencyBaseline:
    speedup: float
    reference_ms: float
    compressed_ms: float
    # The in-run speedups of the K draws a refresh timed (draw 0 first): the run-to-run spread the
    # latency gate compares with. Empty in files written before spreads existed.
    speedups: tuple[float, ...] = ()
    # The compressed model's peak inference memory a refresh measured on this machine (with
    # --compress-memory or a max_peak_memory_bytes limit), and what it is ("cpu-rss" /
    # "cuda-allocated"); None in entries recorded without it.
    peak_memory_bytes: int | None = None
    peak_memory_kind: str = ""
    # How the speedups were estimated (``measure.latency.SPEEDUP_ESTIMATOR``); "" in older entries.
    estimator: str = ""

    @property
    def runs(self) -> tuple[float, ...]:
        """The recorded runs' speedups (one, in an entry without a list)."""
        return self.speedups or (self.speedup,)


def latency_entry(result: CaseResult) -> dict[str, Any]:
    assert result.latency is not None
    lat = result.latency
    entry: dict[str, Any] = {
        "speedup": round(lat.speedup, 4),
        "reference_ms": round(lat.reference_ms, 4),
        "compressed_ms": round(lat.compressed_ms, 4),
        "pairs": lat.pairs,
        "estimator": SPEEDUP_ESTIMATOR,
    }
    if result.artifact_sha256:
        entry["artifact_sha256"] = result.artifact_sha256  # what was timed: see _check_same_update
    speedups = [d.speedup for d in result.draws if d.speedup is not None]
    if speedups:
        entry["speedups"] = [round(v, 4) for v in (lat.speedup, *speedups)]
    if result.memory is not None:  # machine-dependent (allocator, kernels): kept with latency
        entry["peak_memory"] = {
            "reference_bytes": result.memory.reference_bytes,
            "compressed_bytes": result.memory.compressed_bytes,
            "reference_kind": result.memory.reference_kind,
            "compressed_kind": result.memory.compressed_kind,
        }
    for extra in result.extra_latency:  # informational: the forward's ratio is what gates
        entry[extra.workload] = {
            "speedup": round(extra.speedup, 4),
            "reference_ms": round(extra.reference_ms, 4),
            "compressed_ms": round(extra.compressed_ms, 4),
        }
    return entry
