"""Synthetic results for unit tests of gates, baselines and rendering (no torch needed)."""

from __future__ import annotations

from pytest_compress.results import CaseResult, LatencyResult, MetricResult, SizeResult


def make_result(
    *,
    test_id: str = "suites/test_x.py::test_a[m]",
    ref_bytes: int = 4000,
    cmp_bytes: int = 1000,
    ref_acc: float = 0.98,
    cmp_acc: float = 0.97,
    speedup: float | None = 2.0,
    speedup_ci: tuple[float, float] | None = None,
    drop_ci: tuple[float, float] | None = None,
    method: str = "int8-dynamic",
    sha: str = "",
) -> CaseResult:
    latency = None
    if speedup is not None:
        latency = LatencyResult(
            reference_ms=2.0,
            compressed_ms=2.0 / speedup,
            speedup=speedup,
            speedup_ci=speedup_ci or (speedup, speedup),
            pairs=20,
            calls_per_sample=1,
            threads=1,
            ratios=(speedup,) * 20,
        )
    return CaseResult(
        test_id=test_id,
        model="m",
        method=method,
        method_config={},
        method_label=method,
        size=SizeResult(ref_bytes, cmp_bytes, 100, 100, 100, 90, "torch.save(state_dict)"),
        metric=MetricResult(
            "accuracy",
            "fraction",
            True,
            ref_acc,
            cmp_acc,
            100,
            (1.0,) * 100,
            (1.0,) * 100,
            drop_ci=drop_ci or (ref_acc - cmp_acc, ref_acc - cmp_acc),
        ),
        artifact_sha256=sha,
        latency=latency,
        model_source="cache",
        fingerprint={
            "cpu": "cpu-x",
            "cores": 2,
            "machine": "x86_64",
            "torch": "2.14.1",
            "threads": 1,
            "kernels": "AVX2",
        },
    )
