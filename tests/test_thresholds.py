from __future__ import annotations

import pytest

from pytest_compress.baselines import LatencyBaseline, QualityBaseline
from pytest_compress.gates import decide
from pytest_compress.thresholds import Policy, Thresholds, threshold_gates
from tests.helpers import make_result

DEFAULT = Thresholds()


def _decide(r, t=DEFAULT, quality=None, latency=None, update=False, policy=None):
    return decide(
        r,
        t,
        quality=quality,
        latency=latency,
        quality_where="b/q.json",
        latency_where="b/l.json",
        update=update,
        nodeid=r.test_id,
        policy=policy or Policy(),
    )


def _base(r, **changes):
    return QualityBaseline(**{**QualityBaseline.from_result(r).__dict__, **changes})


def test_thresholds_pass_and_fail_with_one_line_reasons() -> None:
    r = make_result(ref_acc=0.98, cmp_acc=0.95, ref_bytes=4000, cmp_bytes=2000, speedup=0.8)
    gates = {
        g.name: g
        for g in threshold_gates(
            r, Thresholds(max_accuracy_drop=0.02, min_size_reduction=3.5, min_speedup=1.0, min_accuracy=0.9)
        )
    }
    assert not gates["accuracy-drop"].ok
    assert gates["accuracy-drop"].message.startswith(
        "accuracy drop 3.00 pt [3.00 pt, 3.00 pt] > max_accuracy_drop 2.00 pt (98.00% -> 95.00%"
    )
    assert not gates["size-reduction"].ok and "2.00x < min_size_reduction 3.50x" in gates["size-reduction"].message
    assert not gates["speedup"].ok and "speedup 0.80x [0.80x, 0.80x] < min_speedup 1.00x" in gates["speedup"].message
    assert gates["min-accuracy"].ok
    assert all("\n" not in g.message for g in gates.values())


def test_threshold_boundaries_are_inclusive() -> None:
    r = make_result(ref_acc=0.98, cmp_acc=0.96, ref_bytes=4000, cmp_bytes=1000, speedup=1.5)
    gates = threshold_gates(r, Thresholds(max_accuracy_drop=0.02 + 1e-12, min_size_reduction=4.0, min_speedup=1.5))
    assert all(g.ok for g in gates)


def test_missing_baseline_fails_and_says_how_to_create_it() -> None:
    v = _decide(make_result())
    assert v.status == "fail" and v.failed_gates == ("baseline-missing",)
    assert "--compress-update-baselines" in v.reasons[0] and "b/q.json" in v.reasons[0]


def test_update_mode_writes_instead_of_comparing() -> None:
    v = _decide(make_result(), update=True)
    assert v.status == "new-baseline" and v.reasons == ()


def test_update_mode_still_enforces_thresholds() -> None:
    v = _decide(make_result(speedup=0.5), Thresholds(min_speedup=1.0), update=True)
    assert v.failed_gates == ("speedup",)


@pytest.mark.parametrize(
    ("changes", "gate"),
    [
        ({"compressed_bytes": 990}, "size-baseline"),  # now 1000 B: +1.01% > 1%
        ({"compressed_metric": 0.9801}, "accuracy-baseline"),  # now 0.97: 1.01 pt worse
        ({"reference_metric": 0.9901}, "reference-baseline"),
    ],
)
def test_baseline_regression_beyond_tolerance_fails(changes, gate) -> None:
    r = make_result()
    v = _decide(r, quality=_base(r, **changes), latency=LatencyBaseline(2.0, 2.0, 1.0))
    assert v.failed_gates == (gate,)


@pytest.mark.parametrize(
    "changes",
    [
        {"compressed_bytes": 991},
        {"compressed_metric": 0.9799},
        {"compressed_bytes": 5000},
        {"compressed_metric": 0.5},
    ],
)
def test_within_tolerance_or_better_passes(changes) -> None:
    r = make_result()
    assert _decide(r, quality=_base(r, **changes), latency=LatencyBaseline(2.0, 2.0, 1.0)).status == "pass"


def test_latency_baseline_gate_and_in_run_note() -> None:
    slow = make_result(speedup=1.2)  # below 2.0 x (1 - the default 30%) = 1.4
    assert _decide(slow, quality=_base(slow), latency=LatencyBaseline(2.0, 2.0, 1.0)).failed_gates == (
        "latency-baseline",
    )
    r = make_result(speedup=1.4)
    loose = Thresholds(latency_tolerance=0.25)
    assert _decide(r, loose, quality=_base(r), latency=LatencyBaseline(1.8, 2.0, 1.1)).status == "pass"  # 1.4 >= 1.35
    v = _decide(r, quality=_base(r), latency=None)
    assert v.status == "pass" and any("latency gated by in-run ratio only" in n for n in v.notes)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_speedup": 0},
        {"size_tolerance": -0.1},
        {"max_accuracy_drop": "x"},
        {"min_speedup": float("nan")},
        {"min_size_reduction": True},
    ],
)
def test_invalid_thresholds_are_rejected(kwargs) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Thresholds(**kwargs)


def test_lenient_fails_only_when_confidently_worse_strict_unless_confidently_within() -> None:
    t = Thresholds(max_accuracy_drop=0.02, min_speedup=1.0)
    # point estimates violate both limits, but the intervals straddle them
    r = make_result(ref_acc=0.98, cmp_acc=0.955, drop_ci=(0.01, 0.04), speedup=0.97, speedup_ci=(0.93, 1.02))
    assert all(g.ok for g in threshold_gates(r, t, Policy("lenient")))
    assert {g.name for g in threshold_gates(r, t, Policy("strict")) if not g.ok} == {"accuracy-drop", "speedup"}
    # confidently worse: both modes fail
    r = make_result(ref_acc=0.98, cmp_acc=0.94, drop_ci=(0.025, 0.05), speedup=0.8, speedup_ci=(0.78, 0.82))
    assert {g.name for g in threshold_gates(r, t, Policy("lenient")) if not g.ok} == {"accuracy-drop", "speedup"}
    msg = next(g.message for g in threshold_gates(r, t, Policy("lenient")) if g.name == "speedup")
    assert "speedup 0.80x [0.78x, 0.82x] < min_speedup 1.00x" in msg and "99% lenient" in msg


def test_identical_artifact_with_different_results_is_a_bug() -> None:
    r = make_result(sha="ab" * 32)
    v = _decide(r, quality=_base(r, compressed_metric=0.9705), latency=LatencyBaseline(2.0, 2.0, 1.0))
    assert v.failed_gates == ("identical-artifact",)
    assert "is a bug" in v.reasons[0]
    assert _decide(r, quality=_base(r), latency=LatencyBaseline(2.0, 2.0, 1.0)).status == "pass"


def test_better_than_baseline_is_stale_and_fails_only_under_strict_baselines() -> None:
    r = make_result(cmp_bytes=800, cmp_acc=0.975)
    base = _base(r, compressed_bytes=1000, compressed_metric=0.96)
    v = _decide(r, quality=base, latency=LatencyBaseline(2.0, 2.0, 1.0))
    assert v.status == "pass" and v.stale and v.label == "pass (no limits set; baseline tolerance; stale baseline)"
    assert "stale baseline: size 800 B is smaller than baseline 1000 B" in v.notes[-1]
    v = _decide(r, quality=base, latency=LatencyBaseline(2.0, 2.0, 1.0), policy=Policy(strict_baselines=True))
    assert v.failed_gates == ("stale-baseline",)
