"""Baselines that know their spread: the band rule, the schema, and each comparison path."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from pytest_compress.baseline_gates import compare_quality, latency_ceiling, latency_floor
from pytest_compress.baselines import BaselineFileError, BaselineStore, LatencyBaseline, QualityBaseline
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.gates import GatePlan, decide, latency_limits
from pytest_compress.measure.latency import SPEEDUP_ESTIMATOR, clear_of
from pytest_compress.results import DrawResult
from pytest_compress.spread import MAX_RECORDED_RUNS, Spread, SpreadError, accumulate, band
from pytest_compress.thresholds import Policy, Thresholds
from tests.helpers import make_result

FP = Fingerprint(cpu="cpu-x", cores=2, machine="x86_64", torch="2.14.1", threads=1)
REF_A, REF_B, EVAL = "a" * 64, "b" * 64, "e" * 64


def _result(ref_acc: float = 0.98, cmp_acc: float = 0.97, cmp_bytes: int = 1000, ref: str = REF_A, **kw):
    r = make_result(ref_acc=ref_acc, cmp_acc=cmp_acc, cmp_bytes=cmp_bytes, speedup=None, **kw)
    return dataclasses.replace(r, reference_sha256=ref, eval_sha256=EVAL)


def _recorded(drops: list[float], refs: list[float] | None = None) -> QualityBaseline:
    """A baseline whose draw 0 is 0.98 -> 0.98 - drops[0], with the other draws as given."""
    refs = refs or [0.98] * len(drops)
    first = _result(ref_acc=refs[0], cmp_acc=refs[0] - drops[0])
    draws = tuple(DrawResult(d, refs[d], refs[d] - drops[d], 1000, f"{d:064d}") for d in range(1, len(drops)))
    return QualityBaseline.from_result(first.with_draws(draws))


def _verdict(r, t: Thresholds, quality: QualityBaseline, latency=None, policy: Policy = Policy()):  # noqa: B008
    return decide(
        r,
        t,
        quality=quality,
        latency=latency,
        quality_where="b.json",
        latency_where="l.json",
        update=False,
        nodeid="s/t.py::a",
        policy=policy,
    )


def test_band_is_a_t_prediction_interval_with_a_tolerance_floor() -> None:
    values = [0.01, 0.02, 0.03, 0.02, 0.02]
    b = band(values, 0.99, floor=0.0)
    sd = 0.00707107  # sample sd of the values
    half = 4.604095 * sd * math.sqrt(1 + 1 / 5)  # t(4, 0.995)
    assert b.mean == pytest.approx(0.02) and b.sd == pytest.approx(sd, rel=1e-5)
    assert (b.low, b.high) == pytest.approx((0.02 - half, 0.02 + half), rel=1e-5)
    assert not b.floored
    wide = band(values, 0.99, floor=0.1)
    assert wide.floored and (wide.low, wide.high) == pytest.approx((-0.08, 0.12))
    one = band([0.5], 0.99, floor=0.01)  # a single draw: the tolerance alone
    assert (one.low, one.high) == pytest.approx((0.49, 0.51))


@pytest.mark.parametrize(
    "bad",
    [
        {"reference": [1.0], "compressed": [1.0], "drop": [0.0], "compressed_bytes": []},
        {"reference": [float("nan")], "compressed": [1.0], "drop": [0.0], "compressed_bytes": [1]},
        {"reference": [], "compressed": [], "drop": [], "compressed_bytes": []},
        {"reference": [1.0], "compressed": [1.0], "drop": [0.0]},
        {"reference": "1", "compressed": [1.0], "drop": [0.0], "compressed_bytes": [1]},
        {"reference": [1.0], "compressed": [1.0], "drop": [0.0], "compressed_bytes": [1], "draws": 3},
    ],
)
def test_malformed_spreads_are_refused(bad: dict) -> None:
    with pytest.raises(SpreadError):
        Spread.from_json(bad)


def test_spread_round_trips_through_the_baseline_file(tmp_path: Path) -> None:
    base = _recorded([0.01, 0.02, 0.03])
    r = _result(cmp_acc=0.97).with_draws(
        (DrawResult(1, 0.98, 0.96, 1000, "1" * 64), DrawResult(2, 0.98, 0.95, 1000, "2" * 64))
    )
    store = BaselineStore(tmp_path)
    store.stage(r, "s/t.py::a", FP)
    store.flush()
    entry = json.loads((tmp_path / "s" / "t.json").read_text())["cases"]["s/t.py::a"]
    assert entry["reference_sha256"] == REF_A and entry["eval_sha256"] == EVAL
    assert entry["spread"] == {
        "draws": 3,
        "reference": [0.98, 0.98, 0.98],
        "compressed": [0.97, 0.96, 0.95],
        "drop": pytest.approx([0.01, 0.02, 0.03]),
        "compressed_bytes": [1000, 1000, 1000],
    }
    loaded = BaselineStore(tmp_path).quality("s/t.py::a")
    assert loaded.spread.drop == pytest.approx(base.spread.drop)
    assert loaded.reference_sha256 == REF_A


def test_a_bad_spread_in_a_file_names_the_file(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.stage(_result(), "s/t.py::a", FP)
    store.flush()
    path = tmp_path / "s" / "t.json"
    data = json.loads(path.read_text())
    data["cases"]["s/t.py::a"]["spread"]["drop"] = ["x"]
    path.write_text(json.dumps(data))
    with pytest.raises(
        BaselineFileError, match=r"t\.json: entry 's/t.py::a' has a bad spread .*--compress-update-baselines"
    ):
        BaselineStore(tmp_path).quality("s/t.py::a")


def test_same_reference_uses_the_exact_comparison() -> None:
    base = _recorded([0.01, 0.05, 0.09])  # a wide spread must not loosen the exact comparison
    c = compare_quality(_result(cmp_acc=0.955), base, Thresholds(), "b.json")  # 1.5 pt worse than draw 0
    assert c.mode == "exact" and [g.name for g in c.gates if not g.ok] == ["accuracy-baseline"]


def test_retrained_reference_inside_the_spread_passes_and_outside_fails() -> None:
    base = _recorded([0.01, 0.02, 0.03, 0.02, 0.02])  # band [~-0.02, ~0.06]
    inside = compare_quality(_result(cmp_acc=0.935, ref=REF_B), base, Thresholds(), "b.json")
    assert inside.mode == "spread" and all(g.ok for g in inside.gates)
    assert inside.spread["accuracy-baseline"]["now"] == pytest.approx(0.045)
    outside = compare_quality(_result(cmp_acc=0.90, ref=REF_B), base, Thresholds(), "b.json")
    (failed,) = [g for g in outside.gates if not g.ok]
    assert failed.name == "accuracy-baseline"
    assert "accuracy drop 8.00 pt outside the baseline's retraining spread (5 draws 2.00 pt" in failed.message
    assert "reference retrained: digest bbbbbbbbbbbb vs recorded aaaaaaaaaaaa" in failed.message


def test_spread_gates_the_reference_and_the_size_too() -> None:
    base = _recorded([0.01] * 5, refs=[0.98, 0.975, 0.985, 0.98, 0.98])
    c = compare_quality(_result(ref_acc=0.90, cmp_acc=0.89, ref=REF_B, cmp_bytes=1200), base, Thresholds(), "b")
    assert {g.name for g in c.gates if not g.ok} == {"reference-baseline", "size-baseline"}
    # The size never moved across draws: the 1% size tolerance is the band (floor).
    assert c.spread["size-baseline"]["floored"] and c.spread["size-baseline"]["high"] == pytest.approx(1010)


def test_better_than_the_spread_is_a_stale_baseline() -> None:
    base = _recorded([0.05, 0.06, 0.05, 0.06, 0.05])
    v = _verdict(_result(cmp_acc=0.98, ref=REF_B), Thresholds(), base)
    assert v.status == "pass" and v.stale and v.baseline == "spread"
    assert v.label == "pass (no limits set; baseline spread; stale baseline)"


def test_entries_without_digest_or_spread_use_fixed_tolerances_and_say_so() -> None:
    old = dataclasses.replace(_recorded([0.01]), reference_sha256="", spread=None, eval_sha256="")
    v = _verdict(_result(ref=REF_B), Thresholds(max_accuracy_drop=0.05), old)
    assert v.status == "pass" and v.baseline == "tolerance" and v.limits == ("accuracy-drop",)
    assert any("records no reference digest or spread" in n for n in v.notes)
    assert v.label == "pass (limits ok; baseline tolerance)"


def test_changed_eval_data_fails_in_every_mode() -> None:
    base = _recorded([0.01, 0.02, 0.03])
    for ref in (REF_A, REF_B):
        r = dataclasses.replace(_result(ref=ref), eval_sha256="f" * 64)
        c = compare_quality(r, base, Thresholds(), "b.json")
        assert c.gates[0].name == "eval-data" and not c.gates[0].ok


def _latency_verdict(speedup: float, ci: tuple[float, float], base: LatencyBaseline, mode: str = "lenient"):
    r = dataclasses.replace(make_result(speedup=speedup, speedup_ci=ci), reference_sha256=REF_A, eval_sha256=EVAL)
    t = Thresholds(latency_tolerance=0.05)
    return _verdict(r, t, QualityBaseline.from_result(r), latency=base, policy=Policy(mode=mode))


def test_latency_baseline_with_recorded_runs_gates_on_their_spread() -> None:
    runs = (4.48, 4.40, 4.55, 4.45, 4.50)
    base = LatencyBaseline(4.48, 1.0, 0.22, speedups=runs)
    tight = Thresholds(latency_tolerance=0.05)
    floor = latency_floor(base, tight, 0.99)
    assert floor == pytest.approx(band(runs, 0.99, floor=0.05 * 4.476).low)
    assert 4.0 < floor < 4.476 * 0.95
    # Every quantized conv run twice: 3.33x [2.91, 3.59] passed a 25% fixed tolerance; not the spread.
    v = _latency_verdict(3.33, (2.91, 3.59), base)
    assert v.failed_gates == ("latency-baseline",)
    assert "below the baseline's run-to-run spread (5 recorded runs 4.48x" in v.reasons[0]
    assert _latency_verdict(4.43, (4.2, 4.6), base).status == "pass"
    assert _latency_verdict(4.1, (3.9, floor + 0.01), base).status == "pass"  # lenient: not confidently below
    # strict: the whole interval must clear the band's floor
    assert _latency_verdict(4.43, (3.9, 4.6), base, mode="strict").failed_gates == ("latency-baseline",)
    # the timing plan stops on the same floor the gate uses (and on the stale check's ceiling)
    ceiling = latency_ceiling(base, tight, 0.99)
    assert latency_limits(Thresholds(min_speedup=1.5, latency_tolerance=0.05), base, Policy()) == (1.5, floor, ceiling)


def test_the_gate_plan_gives_the_timing_every_limit_its_gates_compare_with() -> None:
    runs = (4.48, 4.40, 4.55, 4.45, 4.50)
    base = LatencyBaseline(4.48, 1.0, 0.22, speedups=runs)
    t = Thresholds(min_speedup=1.5, latency_tolerance=0.05)
    floor, ceiling = latency_floor(base, t, 0.99), latency_ceiling(base, t, 0.99)
    assert ceiling == pytest.approx(2 * 4.476 - floor)  # the floor mirrored about the runs' mean
    r = dataclasses.replace(make_result(speedup=5.2, speedup_ci=(4.9, 5.5)), reference_sha256=REF_A, eval_sha256=EVAL)
    plan = GatePlan(t, Policy(), quality=QualityBaseline.from_result(r), latency=base, nodeid="s/t.py::a")
    assert plan.speedup_limits == (1.5, floor, ceiling)
    # The stale ceiling reaches the stop rule: an interval straddling it is not settled yet.
    stop = clear_of(plan.speedup_limits)
    assert stop is not None
    assert not stop((ceiling - 0.05, ceiling + 0.05))
    assert stop((floor + 0.01, ceiling - 0.01)) and stop((ceiling + 0.01, ceiling + 0.2))
    # What the plan decides is what decide() decides: confidently above the ceiling -> stale.
    verdict = plan.decide(r)
    assert verdict == decide(
        r,
        t,
        quality=plan.quality,
        latency=base,
        quality_where="",
        latency_where="",
        update=False,
        nodeid="s/t.py::a",
    )
    assert verdict.status == "pass" and verdict.stale and "speedup 5.20x is above baseline" in verdict.notes[-1]
    # Recording a baseline compares with nothing: the timing spends its whole budget.
    assert dataclasses.replace(plan, update=True, latency=None).speedup_limits == ()
    assert dataclasses.replace(plan, latency=None).speedup_limits == (1.5,)


def test_latency_spreads_are_recorded_and_bad_ones_refused(tmp_path: Path) -> None:
    r = make_result(speedup=2.0).with_draws(tuple(DrawResult(d, 0.98, 0.97, 1000, "", 2.0 + d / 100) for d in (1, 2)))
    store = BaselineStore(tmp_path)
    store.stage(r, "s/t.py::a", FP)
    store.flush()
    path = tmp_path / "latency" / f"{FP.slug}.json"
    data = json.loads(path.read_text())
    assert data["cases"]["s/t.py::a"]["speedups"] == [2.0, 2.01, 2.02]
    assert BaselineStore(tmp_path).latency("s/t.py::a", FP).speedups == (2.0, 2.01, 2.02)
    for bad in ([2.0, float("nan")], [2.0, -1.0], "fast"):
        data["cases"]["s/t.py::a"]["speedups"] = bad
        path.write_text(json.dumps(data))
        with pytest.raises(BaselineFileError, match="is malformed"):
            BaselineStore(tmp_path).latency("s/t.py::a", FP)


def test_refreshes_that_agree_add_to_the_recorded_runs_and_a_real_change_replaces_them() -> None:
    session_1 = (3.50, 3.52, 3.47, 3.55, 3.49)
    session_2 = (3.30, 3.28, 3.33, 3.31, 3.29)  # another session's load: -6%, inside the floored band
    assert accumulate(session_1, session_2, 0.99, 0.15) == session_1 + session_2
    assert accumulate(session_1, (7.0, 7.1), 0.99, 0.15) == (7.0, 7.1)  # twice as fast: the speed changed
    assert accumulate((), session_2, 0.99, 0.15) == session_2
    many = accumulate(session_1 * 4, session_2, 0.99, 0.15)
    assert len(many) == MAX_RECORDED_RUNS and many[-5:] == session_2  # the newest are kept


def _stage_runs(store: BaselineStore, runs: tuple[float, ...]) -> None:
    draws = tuple(DrawResult(d, 0.98, 0.97, 1000, "", v) for d, v in enumerate(runs[1:], start=1))
    store.stage(make_result(speedup=runs[0]).with_draws(draws), "s/t.py::a", FP)
    store.flush()


def test_a_latency_refresh_in_another_session_widens_the_band_it_agrees_with(tmp_path: Path) -> None:
    _stage_runs(BaselineStore(tmp_path), (3.50, 3.52, 3.47))
    _stage_runs(BaselineStore(tmp_path), (3.30, 3.28, 3.33))
    runs = BaselineStore(tmp_path).latency("s/t.py::a", FP).speedups
    assert runs == (3.50, 3.52, 3.47, 3.30, 3.28, 3.33)
    _stage_runs(BaselineStore(tmp_path), (1.0, 1.01, 0.99))  # a 3.4x method now at 1x: replaced, not mixed
    assert BaselineStore(tmp_path).latency("s/t.py::a", FP).speedups == (1.0, 1.01, 0.99)


def test_an_identical_artifact_must_reproduce_exactly_only_under_the_same_kernels() -> None:
    recorded = _result(cmp_acc=0.97)
    base = QualityBaseline.from_result(dataclasses.replace(recorded, artifact_sha256="s" * 64))
    assert base.kernels == "AVX2"
    rounding = dataclasses.replace(recorded, artifact_sha256="s" * 64, metric=dataclasses.replace(
        recorded.metric, compressed=0.970002))  # fmt: skip
    same = compare_quality(rounding, base, Thresholds(), "b.json")
    assert [g.name for g in same.gates if not g.ok] == ["identical-artifact"]
    other = dataclasses.replace(rounding, fingerprint={**rounding.fingerprint, "kernels": "AVX512"})
    assert all(g.ok for g in compare_quality(other, base, Thresholds(), "b.json").gates)


def test_a_nan_result_is_outside_any_spread() -> None:
    base = _recorded([0.01, 0.02, 0.03, 0.02, 0.02])
    nan = compare_quality(_result(cmp_acc=float("nan"), ref=REF_B), base, Thresholds(), "b.json")
    assert [g.name for g in nan.gates if not g.ok] == ["accuracy-baseline"]
    assert not nan.stale


def test_single_runs_accumulate_and_runs_timed_another_way_are_replaced(tmp_path: Path) -> None:
    # --compress-update-latency records one run per refresh: the second agrees with the first
    # (inside its tolerance band) and is added, so repeated refreshes build the spread.
    _stage_runs(BaselineStore(tmp_path), (3.50,))
    _stage_runs(BaselineStore(tmp_path), (3.40,))
    assert BaselineStore(tmp_path).latency("s/t.py::a", FP).speedups == (3.50, 3.40)
    assert accumulate((3.5,), (3.4,), 0.99, 0.15) == (3.5, 3.4)
    assert accumulate((3.5,), (1.0,), 0.99, 0.15) == (1.0,)
    # An entry from before the block estimator: its runs are not comparable, so they are replaced.
    path = tmp_path / "latency" / f"{FP.slug}.json"
    data = json.loads(path.read_text())
    assert data["cases"]["s/t.py::a"]["estimator"] == SPEEDUP_ESTIMATOR
    del data["cases"]["s/t.py::a"]["estimator"]
    path.write_text(json.dumps(data))
    assert BaselineStore(tmp_path).latency("s/t.py::a", FP).estimator == ""
    _stage_runs(BaselineStore(tmp_path), (3.45,))
    assert BaselineStore(tmp_path).latency("s/t.py::a", FP).speedups == ()  # one run: no list
    assert json.loads(path.read_text())["cases"]["s/t.py::a"]["speedup"] == 3.45


def test_an_entry_timed_with_the_old_estimator_says_to_refresh_it() -> None:
    r = make_result(speedup=2.0)
    old = LatencyBaseline(speedup=2.0, reference_ms=2.0, compressed_ms=1.0)
    new = dataclasses.replace(old, estimator=SPEEDUP_ESTIMATOR)
    unsettled = dataclasses.replace(old, estimator="abba-blocks")  # blocks, but no settling calls
    kw = dict(quality=None, quality_where="q.json", latency_where="l.json", update=False, nodeid="t")
    assert any("--compress-update-latency" in n for n in decide(r, Thresholds(), latency=old, **kw).notes)
    assert any("(abba-blocks;" in n for n in decide(r, Thresholds(), latency=unsettled, **kw).notes)
    assert not any("--compress-update-latency" in n for n in decide(r, Thresholds(), latency=new, **kw).notes)


def test_update_latency_records_only_this_machines_latency_and_still_gates_quality(
    project: pytest.Pytester,
) -> None:
    p = project.path
    run = ("-p", "no:cacheprovider")
    project.runpytest("--compress-update-baselines", "--compress-draws=1", *run).assert_outcomes(passed=2)
    quality = p / "baselines" / "test_model.json"
    (latency,) = (p / "baselines" / "latency").glob("*.json")
    recorded_quality = quality.read_text()
    before = {k: v["speedup"] for k, v in json.loads(latency.read_text())["cases"].items()}

    result = project.runpytest("--compress-update-latency", "--compress-report=json:r.json", *run)
    result.assert_outcomes(passed=2)
    assert quality.read_text() == recorded_quality  # quality baselines untouched
    after = json.loads(latency.read_text())["cases"]
    for nodeid, speedup in before.items():  # the new run agreed, so it was added to the recorded one
        assert after[nodeid]["speedups"][0] == speedup and len(after[nodeid]["speedups"]) == 2
        assert after[nodeid]["estimator"] == SPEEDUP_ESTIMATOR
    rows = json.loads((p / "r.json").read_text())["rows"]
    assert all(r["baseline"]["comparison"] == "exact" for r in rows)  # quality was compared, as usual
    assert all(any("latency baseline written" in n for n in r["notes"]) for r in rows)

    # A quality regression still fails a latency-only refresh: the quality baselines gate as usual.
    doc = json.loads(recorded_quality)
    for entry in doc["cases"].values():
        entry["size"]["compressed_bytes"] //= 2
        entry["size"].pop("artifact_sha256", None)
    quality.write_text(json.dumps(doc))
    project.runpytest("--compress-update-latency", *run).assert_outcomes(failed=2)

    # A quality entry recorded on this machine that describes another artifact: the refresh must
    # not time this one into the latency file (the next read would find the two files disagree).
    doc = json.loads(recorded_quality)
    for entry in doc["cases"].values():
        entry["size"]["artifact_sha256"] = "0" * 64
    quality.write_text(json.dumps(doc))
    timed = latency.read_text()
    result = project.runpytest("--compress-update-latency", *run)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*latency not recorded in*describes artifact 000000000000*"])
    assert latency.read_text() == timed


def test_fewer_than_five_recorded_runs_give_the_tolerance_around_their_mean() -> None:
    t = Thresholds(latency_tolerance=0.2)
    two = LatencyBaseline(4.0, 1.0, 0.25, speedups=(4.0, 3.6))  # a t band from 2 runs: 99% half-width 99 sd
    assert latency_floor(two, t, 0.99) == pytest.approx(3.8 * 0.8)
    one = LatencyBaseline(4.0, 1.0, 0.25)
    assert latency_floor(one, t, 0.99) == pytest.approx(3.2)
    r = make_result(speedup=2.9, speedup_ci=(2.8, 3.0))
    kw = dict(quality=None, quality_where="q.json", latency_where="l.json", update=False, nodeid="t")
    v = decide(r, t, latency=two, **kw)
    assert "latency-baseline" in v.failed_gates
    assert "vs baseline 3.80x (mean of 2 recorded runs): below 3.04x" in " ".join(v.reasons)
