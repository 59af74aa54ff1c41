"""Interleaved timing, checked with an injected clock: exact, and never flaky."""

from __future__ import annotations

import gc

import pytest

from pytest_compress.measure.latency import interleaved


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now

    def work(self, name: str, seconds: float):
        def fn() -> None:
            self.log.append(name)
            self.now += seconds

        return fn


def test_speedup_is_median_of_block_ratios() -> None:
    clock = FakeClock()
    t = interleaved(clock.work("A", 0.004), clock.work("B", 0.001), min_pairs=10, max_pairs=10, warmup=2, clock=clock)
    assert len(t.ratios) == 10
    assert t.speedup == pytest.approx(4.0)
    assert t.reference_ms == pytest.approx(4.0) and t.compressed_ms == pytest.approx(1.0)


def test_order_alternates_abba_after_warmup() -> None:
    clock = FakeClock()
    interleaved(clock.work("A", 0.01), clock.work("B", 0.01), min_pairs=4, max_pairs=4, warmup=1, settle=0, clock=clock)
    # warm-up pair, one calibration call each (B first: A opens the first pair after itself),
    # then pairs in ABBA order (1 call per sample at 10 ms)
    assert "".join(clock.log) == "AB" + "BA" + "AB" + "BA" + "AB" + "BA"


def test_each_sample_is_preceded_by_untimed_settling_calls_of_its_model() -> None:
    clock = FakeClock()
    t = interleaved(
        clock.work("A", 0.01), clock.work("B", 0.004), min_pairs=2, max_pairs=2, warmup=0, settle=5,
        settle_s=0.02, clock=clock,
    )  # fmt: skip
    # calibration B, A; then per sample: A settles 2 calls (20 ms / 10 ms), B 5 (the cap; 20 / 4)
    assert "".join(clock.log) == "BA" + "AAA" + "BBBBBB" + "BBBBBB" + "AAA"
    assert t.reference_s == pytest.approx((0.01, 0.01)) and t.compressed_s == pytest.approx((0.004, 0.004))


def test_calls_per_sample_keep_samples_above_min_sample_time() -> None:
    clock = FakeClock()
    t = interleaved(
        clock.work("A", 0.0001),
        clock.work("B", 0.0001),
        min_pairs=3,
        max_pairs=3,
        min_sample_s=0.002,
        clock=clock,
    )
    assert t.calls_per_sample == 20


def test_budget_stops_once_there_are_enough_blocks_for_the_confidence() -> None:
    clock = FakeClock()
    t = interleaved(
        clock.work("A", 0.1), clock.work("B", 0.1), min_pairs=5, max_pairs=1000, budget_s=0.5, confidence=0.9, looks=1,
        clock=clock,
    )  # fmt: skip
    assert len(t.ratios) == 10  # 5 blocks: the fewest whose median interval keeps 90% (2 * 0.5**5 <= 0.1)
    t = interleaved(clock.work("A", 0.1), clock.work("B", 0.1), min_pairs=5, max_pairs=1000, budget_s=0.5, clock=clock)
    assert len(t.ratios) == 16  # 95% over 4 looks: 98.75% per look needs 8 blocks


def test_gc_disabled_while_timing_and_restored() -> None:
    seen = []
    clock = FakeClock()
    interleaved(
        lambda: seen.append(gc.isenabled()),
        clock.work("B", 0.001),
        min_pairs=2,
        max_pairs=2,
        warmup=0,
        clock=clock,
    )
    assert seen[0] is True  # the calibration call runs with gc as the user had it
    assert seen[-1] is False
    assert gc.isenabled()


def test_bad_pair_counts_rejected() -> None:
    with pytest.raises(ValueError):
        interleaved(lambda: None, lambda: None, min_pairs=5, max_pairs=2)


def test_noisy_ratios_keep_sampling_until_the_interval_is_narrow_or_budget_ends() -> None:
    clock = FakeClock()
    costs = iter([0.001, 0.001, 0.003, 0.003] * 10_000)  # blocks alternate between 1 and 3 ms: a wide interval

    def noisy() -> None:
        clock.now += next(costs)

    t = interleaved(clock.work("A", 0.002), noisy, min_pairs=10, max_pairs=10_000, budget_s=1.0, settle=0, clock=clock)
    assert len(t.ratios) > 10  # the interval never narrows: it ran until the budget
    assert clock.now >= 1.0
    lo, hi = t.speedup_ci
    assert lo < t.speedup < hi or lo <= t.speedup <= hi


def _boundary_runs(runs: int, looks: int, limit: float = 0.95, sigma: float = 0.05) -> int:
    """Runs whose lenient gate fails although the true median ratio is exactly ``limit``."""
    import math
    import random

    from pytest_compress.measure.latency import clear_of

    rng = random.Random(11)
    fails = 0
    for _ in range(runs):
        clock = FakeClock()

        def ref(clock: FakeClock = clock) -> None:
            clock.now += 0.010 * math.exp(rng.gauss(0, sigma))

        def cmp(clock: FakeClock = clock) -> None:
            clock.now += 0.010 / limit * math.exp(rng.gauss(0, sigma))

        t = interleaved(ref, cmp, budget_s=1.5, confidence=0.99, decided=clear_of((limit,)), looks=looks, clock=clock)
        fails += t.speedup_ci[1] < limit
    return fails


def test_sequential_looks_keep_the_lenient_false_alarm_rate_at_the_boundary() -> None:
    # True ratio exactly at min_speedup: a lenient 99% gate may fail at most 0.5% of runs; allow 2x.
    assert _boundary_runs(1000, looks=4) <= 10


def test_with_limits_a_narrow_interval_that_straddles_a_limit_does_not_stop_sampling() -> None:
    clock = FakeClock()
    # blocks of two pairs alternate 0.952 / 1.0 (warm-up and calibration take 4 calls): the median
    # straddles 0.975
    costs = iter([0.0105, 0.0105, 0.0100, 0.0100] * 10_000)

    def cmp() -> None:
        clock.now += next(costs)

    from pytest_compress.measure.latency import clear_of

    t = interleaved(
        clock.work("A", 0.010), cmp, budget_s=2.0, target_rel_width=0.10, decided=clear_of((0.975,)), settle=0,
        clock=clock,
    )  # fmt: skip
    lo, hi = t.speedup_ci
    assert lo < 0.975 < hi and clock.now >= 2.0  # undecided: it used the whole budget
    t = interleaved(clock.work("A", 0.010), cmp, budget_s=2.0, target_rel_width=0.10, settle=0, clock=clock)
    assert len(t.ratios) == 26  # no limit: the narrow interval stops it at the first look (a quarter of 2 s)


def test_carry_over_from_the_other_model_cancels_in_blocks() -> None:
    # A model timed right after the other one costs 50% more (cache, allocator...): per-pair
    # ratios split into two clusters (2.67 and 6.0) whose median means nothing; blocks of a
    # reference-first and a compressed-first pair give the true 4.0.
    clock = FakeClock()
    last: list[str] = [""]

    def work(name: str, seconds: float):
        def fn() -> None:
            clock.now += seconds * (1.5 if last[0] not in ("", name) else 1.0)
            last[0] = name

        return fn

    t = interleaved(work("A", 0.004), work("B", 0.001), min_pairs=20, max_pairs=20, settle=0, clock=clock)
    assert sorted({round(r, 2) for r in t.ratios}) == [2.67, 6.0]
    assert t.block_ratios == pytest.approx((4.0,) * 10)
    assert t.speedup == pytest.approx(4.0) and t.speedup_ci == pytest.approx((4.0, 4.0))
    # Settling calls before each sample (the default) time both models in their steady state:
    # every pair gives the true ratio.
    t = interleaved(work("A", 0.004), work("B", 0.001), min_pairs=20, max_pairs=20, clock=clock)
    assert t.ratios == pytest.approx((4.0,) * 20)
