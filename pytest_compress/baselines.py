"""Baseline storage: deterministic JSON under ``baselines/``, one file per test module.

Machine-independent numbers (size, metric) live in ``<baseline-dir>/<module path>.json``;
machine-dependent ones (latency ratios) in ``<baseline-dir>/latency/<fingerprint>.json`` so a
new machine never compares its timings with another machine's. Updates are staged during the
run and written once, atomically, at the end of the session.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_compress import atomic
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.results import CaseResult
from pytest_compress.spread import Spread, SpreadError, accumulate
from pytest_compress.thresholds import Thresholds

SCHEMA_VERSION = 1
DIGITS = 6  # stored precision: stable across platforms, readable in a diff


class BaselineFileError(Exception):
    """A baseline file that cannot be used; the message names the file and what to do."""


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

    @classmethod
    def from_result(cls, r: CaseResult) -> QualityBaseline:
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
            ),
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
            },
            "reference_sha256": self.reference_sha256,
            "eval_sha256": self.eval_sha256,
            "kernels": self.kernels,
        }
        if self.spread is not None:
            doc["spread"] = self.spread.to_json(DIGITS)
        # Recorded for the reader of a diff (what was measured, and the secondary metrics); only
        # the primary metric and size are compared on later runs.
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
        )


@dataclass(frozen=True)
class LatencyBaseline:
    speedup: float
    reference_ms: float
    compressed_ms: float
    # The in-run speedups of the K draws a refresh timed (draw 0 first): the run-to-run spread the
    # latency gate compares with. Empty in files written before spreads existed.
    speedups: tuple[float, ...] = ()


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """``suites/test_x.py::test_a[p]`` -> (``suites/test_x``, ``test_a[p]``)."""
    module, _, name = nodeid.partition("::")
    if module.endswith(".py"):
        module = module[:-3]
    return module, name or module


@dataclass
class BaselineStore:
    root: Path
    _cache: dict[Path, dict[str, Any]] = field(default_factory=dict)
    _staged_quality: dict[Path, dict[str, Any]] = field(default_factory=dict)
    _staged_latency: dict[Path, tuple[Fingerprint, dict[str, Any]]] = field(default_factory=dict)
    # How a refresh's latency runs merge with the recorded ones (``spread.accumulate``).
    confidence: float = 0.99
    latency_tolerance: float = Thresholds().latency_tolerance

    def quality_path(self, nodeid: str) -> Path:
        return self.root / (split_nodeid(nodeid)[0] + ".json")

    def latency_path(self, fingerprint: Fingerprint) -> Path:
        return self.root / "latency" / f"{fingerprint.slug}.json"

    # -- reading ---------------------------------------------------------------------------------

    def quality(self, nodeid: str) -> QualityBaseline | None:
        path = self.quality_path(nodeid)
        entry = self._read(path).get(split_nodeid(nodeid)[1])
        if entry is None:
            return None
        try:
            return QualityBaseline.from_json(entry)
        except SpreadError as exc:
            raise BaselineFileError(
                f"{path}: entry {split_nodeid(nodeid)[1]!r} has a bad spread ({exc}); "
                "re-create it with --compress-update-baselines"
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineFileError(
                f"{path}: entry {split_nodeid(nodeid)[1]!r} is malformed (missing or bad field {exc}); "
                "fix it or re-create it with --compress-update-baselines"
            ) from None

    def latency(self, nodeid: str, fingerprint: Fingerprint) -> LatencyBaseline | None:
        path = self.latency_path(fingerprint)
        entry = self._read(path).get(nodeid)
        if entry is None:
            return None
        try:
            speedups = tuple(float(v) for v in entry.get("speedups", ()))
            base = LatencyBaseline(
                speedup=float(entry["speedup"]),
                reference_ms=float(entry["reference_ms"]),
                compressed_ms=float(entry["compressed_ms"]),
                speedups=speedups,
            )
            if not all(math.isfinite(v) and v > 0 for v in (base.speedup, *speedups)):
                raise ValueError("speedups must be finite and > 0")
            return base
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BaselineFileError(
                f"{path}: entry {nodeid!r} is malformed (missing or bad field {exc}); "
                "fix it or re-create it with --compress-update-baselines"
            ) from None

    def _read(self, path: Path) -> dict[str, Any]:
        if path in self._cache:
            return self._cache[path]
        cases: dict[str, Any] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BaselineFileError(
                    f"{path}: not a readable baseline file ({exc}); restore it from version control "
                    "or delete it and run with --compress-update-baselines"
                ) from None
            if (
                not isinstance(data, dict)
                or data.get("schema") != SCHEMA_VERSION
                or not isinstance(data.get("cases"), dict)
            ):
                raise BaselineFileError(
                    f'{path}: expected a JSON object with "schema": {SCHEMA_VERSION} and a "cases" object; '
                    "restore it from version control or delete it and run with --compress-update-baselines"
                )
            cases = data["cases"]
        self._cache[path] = cases
        return cases

    # -- writing (staged, flushed once) -----------------------------------------------------------

    def stage(self, result: CaseResult, nodeid: str, fingerprint: Fingerprint | None) -> None:
        path = self.quality_path(nodeid)
        self._staged_quality.setdefault(path, {})[split_nodeid(nodeid)[1]] = QualityBaseline.from_result(
            result
        ).to_json(result)
        if result.latency is not None and fingerprint is not None:
            lpath = self.latency_path(fingerprint)
            _, cases = self._staged_latency.setdefault(lpath, (fingerprint, {}))
            cases[nodeid] = {
                "speedup": round(result.latency.speedup, 4),
                "reference_ms": round(result.latency.reference_ms, 4),
                "compressed_ms": round(result.latency.compressed_ms, 4),
                "pairs": result.latency.pairs,
            }
            speedups = [d.speedup for d in result.draws if d.speedup is not None]
            if speedups:
                cases[nodeid]["speedups"] = [round(v, 4) for v in (result.latency.speedup, *speedups)]
            for extra in result.extra_latency:  # informational: the forward's ratio is what gates
                cases[nodeid][extra.workload] = {
                    "speedup": round(extra.speedup, 4),
                    "reference_ms": round(extra.reference_ms, 4),
                    "compressed_ms": round(extra.compressed_ms, 4),
                }

    def flush(self) -> list[Path]:
        """Merge staged entries into the files on disk; other entries are kept as they were."""
        written = []
        for path, staged in sorted(self._staged_quality.items()):
            cases = dict(self._read_for_merge(path))
            cases.update(staged)
            atomic.write_text(path, atomic.dumps_json({"schema": SCHEMA_VERSION, "cases": cases}))
            written.append(path)
        for path, (fingerprint, staged) in sorted(self._staged_latency.items()):
            cases = dict(self._read_for_merge(path))
            for nodeid, entry in staged.items():
                cases[nodeid] = self._merged_latency(cases.get(nodeid), entry)
            doc = {"schema": SCHEMA_VERSION, "fingerprint": fingerprint.to_dict(), "cases": cases}
            atomic.write_text(path, atomic.dumps_json(doc))
            written.append(path)
        self._staged_quality.clear()
        self._staged_latency.clear()
        self._cache.clear()
        return written

    def _merged_latency(self, old: Any, new: dict[str, Any]) -> dict[str, Any]:
        runs = new.get("speedups") or [new["speedup"]]
        recorded = old.get("speedups") if isinstance(old, dict) else None
        if isinstance(recorded, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in recorded
        ):
            runs = list(accumulate(recorded, runs, self.confidence, self.latency_tolerance))
        return {**new, "speedups": runs} if len(runs) > 1 else new

    def _read_for_merge(self, path: Path) -> dict[str, Any]:
        # An update run replaces a corrupt file rather than refusing: that is how a user repairs it.
        self._cache.pop(path, None)
        try:
            return self._read(path)
        except BaselineFileError:
            return {}
