"""Known cases for the median interval, plus its coverage on synthetic lognormal ratios."""

from __future__ import annotations

import random

import pytest

from pytest_compress.stats import discordant, mcnemar_exact_p, median_ci, paired_bootstrap_ci, relative_width


def test_order_statistic_indices_for_known_n() -> None:
    # n = 10 at 95%: k = 2 (2 * P(B <= 1) = 0.0215 <= 0.05; 2 * P(B <= 2) = 0.109 > 0.05)
    assert median_ci(list(range(1, 11))) == (2, 9)
    # n = 20: k = 6 (2 * P(B <= 5) = 0.0414)
    assert median_ci(list(range(1, 21))) == (6, 15)


def test_too_few_samples_give_the_full_range() -> None:
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)


def test_interval_covers_true_median_of_lognormal_ratios() -> None:
    true_median = 1.1  # lognormal with mu = ln(1.1) has median 1.1
    hits = 0
    for seed in range(200):
        rng = random.Random(seed)
        samples = [rng.lognormvariate(0.09531, 0.15) for _ in range(25)]
        lo, hi = median_ci(samples)
        hits += lo <= true_median <= hi
    assert hits / 200 >= 0.90


def test_relative_width_and_validation() -> None:
    assert relative_width([1.0] * 10) == 0.0
    with pytest.raises(ValueError):
        median_ci([])
    with pytest.raises(ValueError):
        median_ci([1.0], confidence=1.0)


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),
        (5, 5, 1.0),
        (0, 5, 0.0625),  # 2 * 0.5**5
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 1024
        (2, 12, 0.012939453125),  # 2 * (1 + 14 + 91) / 16384
    ],
)
def test_mcnemar_exact_p_known_tables(b: int, c: int, p: float) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(p)
    assert mcnemar_exact_p(c, b) == pytest.approx(p)


def test_discordant_counts() -> None:
    assert discordant([1, 1, 0, 0, 1], [1, 0, 1, 0, 0]) == (2, 1)


def test_paired_bootstrap_is_deterministic_and_paired() -> None:
    ref = [1.0] * 300 + [0.0] * 60
    cmp = list(ref)
    for i in range(0, 12):  # 12 examples flip right -> wrong: true drop 12/360 = 3.33 pt
        cmp[i] = 0.0
    lo, hi = paired_bootstrap_ci(ref, cmp, confidence=0.95, seed=3)
    assert (lo, hi) == paired_bootstrap_ci(ref, cmp, confidence=0.95, seed=3)
    assert 0 < lo < 12 / 360 < hi < 0.07
    # Unpaired thinking would give a +-5 pt interval; pairing knows only 12 examples changed.
    assert hi - lo < 0.04
    assert paired_bootstrap_ci(ref, ref) == (0.0, 0.0)


def test_bootstrap_interval_covers_true_drop_in_most_trials() -> None:
    rng = random.Random(0)
    hits = 0
    for trial in range(100):
        ref, cmp = [], []
        for _ in range(360):  # true drop = P(b) - P(c) = 0.04 - 0.02 = 2 pt
            u = rng.random()
            r, c = (1.0, 0.0) if u < 0.04 else (0.0, 1.0) if u < 0.06 else (1.0, 1.0)
            ref.append(r)
            cmp.append(c)
        lo, hi = paired_bootstrap_ci(ref, cmp, confidence=0.95, seed=trial, resamples=1000)
        hits += lo <= 0.02 <= hi
    assert hits >= 88
