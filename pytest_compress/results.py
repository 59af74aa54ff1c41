"""Typed results of one (model, method) case, with a versioned dict form for reports and xdist."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

# 4: the Linear-weight accounting moved from details to ``storage``, what methods report about
# themselves to typed ``method_results``.
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class SizeResult:
    reference_bytes: int
    compressed_bytes: int
    reference_params: int
    compressed_params: int
    reference_nonzero: int
    compressed_nonzero: int
    encoding: str

    @property
    def reduction(self) -> float:
        """How many times smaller the shipped artifact is (>1 is smaller)."""
        return self.reference_bytes / self.compressed_bytes if self.compressed_bytes else float("inf")


@dataclass(frozen=True)
class StorageResult:
    """What the shipped payload spends on the reference's ``nn.Linear`` weights (except the layers
    it keeps in float), by the payload format's own accounting
    (:func:`pytest_compress.measure.size.linear_weight_storage`)."""

    linear_weight_bytes: int  # in the payload: codes, scales, bitmaps, factors — every part
    linear_weight_reference_bytes: int  # the same weights as float32 in the reference
    bits_per_weight: float  # 8 * linear_weight_bytes / the reference's weight count, 4 decimals


@dataclass(frozen=True)
class MethodResult:
    """What a built-in method reports about itself, typed. One subclass per kind; free-form
    extras stay in ``details``. The kinds are an allow-list: ``from_dict`` builds nothing else."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class SparsityResult(MethodResult):
    """Pruning (``prune-unstructured``, ``prune-semistructured``): what share of which weights is zero."""

    kind: ClassVar[str] = "sparsity"
    weight_sparsity: float  # zeros over every weight of the model (measure.size.count_weights)
    pruned_sparsity: float  # zeros over the tensors the method pruned
    left_out: tuple[str, ...]  # "name (Type, N weights)" of every weight tensor it did not prune
    criterion: str  # "magnitude" | "wanda"
    pattern: str | None = None  # "2:4" for N:M sparsity


@dataclass(frozen=True)
class CalibrationResult(MethodResult):
    """Static quantization (``int8-static``): what the observers were calibrated on, and how."""

    kind: ClassVar[str] = "calibration"
    examples: int
    mode: str  # "eager" | "pt2e+inductor"
    backend: str | None = None  # eager mode's quantized engine


@dataclass(frozen=True)
class DistillationResult(MethodResult):
    """``distill``: the student, and the same student trained without the teacher (the control)."""

    kind: ClassVar[str] = "distillation"
    student_params: int
    student_without_teacher: float | None = None  # the control's metric, when it was evaluated


@dataclass(frozen=True)
class AdapterResult(MethodResult):
    """``quantize-lora``: the metric before and after the adapters, against the float-base control."""

    kind: ClassVar[str] = "adapters"
    reference_metric: float
    quantized_metric: float
    lora_metric: float
    control_metric: float | None  # the same adapters trained on the float base (control=True)
    recovered_fraction: float | None  # share of the gap to the control (or reference) closed
    adapter_bytes: int
    adapter_params: int


@dataclass(frozen=True)
class CoverageResult(MethodResult):
    """Methods that rewrite some weight tensors and leave others (``lowrank``, ``cluster``,
    ``prune-structured``): how many they changed, and every weight tensor they did not — a GRU's
    gate matrices, an embedding — so a report never implies the whole model was compressed."""

    kind: ClassVar[str] = "coverage"
    changed_tensors: int
    left_out: tuple[str, ...]  # "name (Type, N weights)", as SparsityResult.left_out


METHOD_RESULTS: dict[str, type[MethodResult]] = {
    cls.kind: cls for cls in (SparsityResult, CalibrationResult, DistillationResult, AdapterResult, CoverageResult)
}
R = TypeVar("R", bound=MethodResult)


def method_result_from_dict(data: dict[str, Any]) -> MethodResult:
    cls = METHOD_RESULTS.get(data.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown method result kind {data.get('kind')!r}; known: {', '.join(sorted(METHOD_RESULTS))}")
    values = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
    if "left_out" in values:
        values["left_out"] = tuple(values["left_out"])
    return cls(**values)


def find_result(results: tuple[MethodResult, ...], kind: type[R]) -> R | None:
    """The last of ``results`` of type ``kind`` (a pipeline's later step wins), or None."""
    found = [r for r in results if isinstance(r, kind)]
    return found[-1] if found else None


@dataclass(frozen=True)
class MetricResult:
    name: str
    unit: str
    higher_is_better: bool
    reference: float
    compressed: float
    examples: int
    # Per-example scores of both models on the same examples: the raw material for paired statistics.
    reference_outcomes: tuple[float, ...] = field(default=(), repr=False)
    compressed_outcomes: tuple[float, ...] = field(default=(), repr=False)
    # Paired interval of ``drop`` (bootstrap over examples) and, for 0/1 outcomes, McNemar's p.
    drop_ci: tuple[float, float] = (0.0, 0.0)
    mcnemar_p: float | None = None
    aggregate: str = "mean"  # Metric.aggregate: how per-example outcomes become the metric
    definition: str = ""  # Metric.definition

    @property
    def drop(self) -> float:
        """How much worse the compressed model is, in the metric's unit (>0 is worse)."""
        diff = self.reference - self.compressed
        return diff if self.higher_is_better else -diff

    @property
    def relative_drop(self) -> float:
        """``drop`` as a fraction of the reference (perplexity 10 -> 10.5 is 0.05)."""
        return self.drop / abs(self.reference) if self.reference else float("inf")


@dataclass(frozen=True)
class LatencyResult:
    reference_ms: float  # median per call
    compressed_ms: float
    speedup: float  # median over pairs of reference/compressed (>1 is faster)
    speedup_ci: tuple[float, float]  # distribution-free interval of that median (the gates' confidence)
    pairs: int
    calls_per_sample: int
    threads: int
    ratios: tuple[float, ...] = field(default=(), repr=False)
    workload: str = "forward"  # what one timed call does ("forward", "prefill", "decode-32", ...)
    # Seconds per call, one entry per sample (a sample times ``calls_per_sample`` calls), in pair
    # order; empty when not kept. Reports that want distributions (benchmark-json) read these.
    reference_s: tuple[float, ...] = field(default=(), repr=False)
    compressed_s: tuple[float, ...] = field(default=(), repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyResult:
        tuples = {k: tuple(data.get(k, ())) for k in ("ratios", "speedup_ci", "reference_s", "compressed_s")}
        return cls(**{**data, **tuples})


@dataclass(frozen=True)
class MemoryResult:
    """Peak memory of copying a model and running it once on the example inputs, measured away
    from the rest of the process (``measure/memory.py`` says how)."""

    reference_bytes: int
    compressed_bytes: int
    # What each number is: "cpu-rss" (a forked child's resident high-water mark above its start)
    # or "cuda-allocated" (the caching allocator's peak above what was allocated before).
    reference_kind: str
    compressed_kind: str

    @property
    def ratio(self) -> float:
        """How many times less memory the compressed model's inference takes (>1 is less)."""
        return self.reference_bytes / self.compressed_bytes if self.compressed_bytes else float("inf")


@dataclass(frozen=True)
class DrawResult:
    """One independent draw of a case: the reference retrained from another seed (and any training
    the method does reseeded), compressed and scored the same way. A baseline refresh records
    several, so a later run on a retrained reference is judged against their spread."""

    draw: int
    reference_metric: float
    compressed_metric: float
    compressed_bytes: int
    reference_sha256: str
    speedup: float | None = None  # the draw's in-run speedup (forward), when timed


def _finite(v: object) -> bool:
    try:
        return math.isfinite(v)  # type: ignore[arg-type]
    except (TypeError, OverflowError):
        return False


# How a case's baseline comparison was made (Verdict.baseline):
EXACT = "exact"  # same reference digest: tight tolerances, identical artifact must match exactly
SPREAD = "spread"  # reference retrained (another machine / torch): inside the recorded spread?
TOLERANCE = "tolerance"  # entry has no reference digest or spread (old file): fixed tolerances
MISSING = "missing"
WRITTEN = "written"  # --compress-update-baselines


@dataclass(frozen=True)
class Verdict:
    status: str  # "pass" | "fail" | "new-baseline"
    failed_gates: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    stale: bool = False  # better than its baseline beyond tolerance
    # The threshold gates the user set that were checked (e.g. "accuracy-drop", "speedup"): a case
    # with none is only held to "unchanged from its baseline", which says nothing about whether
    # the result is acceptable.
    limits: tuple[str, ...] = ()
    baseline: str = ""  # EXACT | SPREAD | TOLERANCE | MISSING | WRITTEN
    # Spread mode: per gated quantity, the recorded draws' band and the value now (all numbers).
    spread: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.status == "fail":
            return "fail: " + ", ".join(self.failed_gates)
        if self.status == "new-baseline":
            return self.status
        parts = ["limits ok" if self.limits else "no limits set", f"baseline {self.baseline or '-'}"]
        if self.stale:
            parts.append("stale baseline")
        return f"{self.status} ({'; '.join(parts)})"


@dataclass(frozen=True)
class CaseResult:
    test_id: str
    model: str
    method: str
    method_config: dict[str, Any]
    method_label: str
    size: SizeResult
    metric: MetricResult
    latency: LatencyResult | None
    model_source: str  # "cache" | "trained" | "built" (no training)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    artifact_sha256: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict = field(default_factory=lambda: Verdict("pass"))
    # Secondary metrics (ModelSpec.extra_metrics) and latency workloads (ModelSpec.workloads):
    # measured and reported, not gated.
    extra_metrics: tuple[MetricResult, ...] = ()
    extra_latency: tuple[LatencyResult, ...] = ()
    reference_sha256: str = ""  # runner.reference_digest: weights + eval data the case used
    eval_sha256: str = ""  # runner.data_digest: the eval data and example inputs alone
    draws: tuple[DrawResult, ...] = ()  # a baseline refresh's extra draws (draw 0 is this result)
    storage: StorageResult | None = None  # None: the payload's format gave no Linear breakdown
    method_results: tuple[MethodResult, ...] = ()  # typed reports of the method (and pipeline steps)
    # Peak memory of each model's inference; None unless asked for (--compress-memory or a
    # max_peak_memory_bytes limit). Optional, so results written without it still load.
    memory: MemoryResult | None = None

    def method_result(self, kind: type[R]) -> R | None:
        """What the method reported of ``kind`` (e.g. ``SparsityResult``), or None."""
        return find_result(self.method_results, kind)

    def non_finite(self) -> list[str]:
        """The gated quantities that are NaN or infinite: no gate can compare them (``NaN > limit``
        is False), so they must fail on their own, and no baseline may record them."""
        m, s = self.metric, self.size
        values: list[tuple[str, float]] = [
            (f"reference {m.name}", m.reference),
            (f"compressed {m.name}", m.compressed),
            (f"{m.name} drop interval", m.drop_ci[0]),
            (f"{m.name} drop interval", m.drop_ci[1]),
            ("reference size", s.reference_bytes),
            ("compressed size", s.compressed_bytes),
        ]
        if self.latency is not None:
            lat = self.latency
            values += [("speedup", lat.speedup), ("speedup interval", lat.speedup_ci[0]),
                       ("speedup interval", lat.speedup_ci[1]), ("reference time", lat.reference_ms),
                       ("compressed time", lat.compressed_ms)]  # fmt: skip
        for d in self.draws:
            values += [(f"draw {d.draw} reference {m.name}", d.reference_metric),
                       (f"draw {d.draw} compressed {m.name}", d.compressed_metric)]  # fmt: skip
            if d.speedup is not None:
                values.append((f"draw {d.draw} speedup", d.speedup))
        found: dict[str, str] = {}
        for name, v in values:
            if not _finite(v):
                found.setdefault(name, f"{name} = {v}")
        return list(found.values())

    def with_verdict(self, verdict: Verdict) -> CaseResult:
        return CaseResult(**{**self.__dict__, "verdict": verdict})

    def with_draws(self, draws: tuple[DrawResult, ...]) -> CaseResult:
        return CaseResult(**{**self.__dict__, "draws": draws})

    def as_draw(self, draw: int = 0) -> DrawResult:
        return DrawResult(
            draw=draw,
            reference_metric=self.metric.reference,
            compressed_metric=self.metric.compressed,
            compressed_bytes=self.size.compressed_bytes,
            reference_sha256=self.reference_sha256,
            speedup=self.latency.speedup if self.latency is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["method_results"] = [r.to_dict() for r in self.method_results]  # asdict drops the kind
        data["schema"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"result schema {data.get('schema')!r} is not {SCHEMA_VERSION}")
        latency = data.get("latency")
        verdict = data["verdict"]
        return cls(
            test_id=data["test_id"],
            model=data["model"],
            method=data["method"],
            method_config=data["method_config"],
            method_label=data["method_label"],
            size=SizeResult(**data["size"]),
            metric=_metric(data["metric"]),
            latency=LatencyResult.from_dict(latency) if latency is not None else None,
            model_source=data["model_source"],
            fingerprint=data.get("fingerprint", {}),
            artifact_sha256=data.get("artifact_sha256", ""),
            details=data.get("details", {}),
            verdict=Verdict(
                status=verdict["status"],
                failed_gates=tuple(verdict["failed_gates"]),
                reasons=tuple(verdict["reasons"]),
                notes=tuple(verdict["notes"]),
                stale=verdict["stale"],
                limits=tuple(verdict.get("limits", ())),
                baseline=verdict.get("baseline", ""),
                spread=verdict.get("spread", {}),
            ),
            extra_metrics=tuple(_metric(m) for m in data.get("extra_metrics", ())),
            extra_latency=tuple(LatencyResult.from_dict(t) for t in data.get("extra_latency", ())),
            reference_sha256=data.get("reference_sha256", ""),
            eval_sha256=data.get("eval_sha256", ""),
            draws=tuple(DrawResult(**d) for d in data.get("draws", ())),
            storage=StorageResult(**data["storage"]) if data.get("storage") is not None else None,
            method_results=tuple(method_result_from_dict(r) for r in data.get("method_results", ())),
            memory=MemoryResult(**data["memory"]) if data.get("memory") is not None else None,
        )


def _metric(data: dict[str, Any]) -> MetricResult:
    return MetricResult(
        **{**data, **{k: tuple(data[k]) for k in ("reference_outcomes", "compressed_outcomes", "drop_ci")}}
    )
