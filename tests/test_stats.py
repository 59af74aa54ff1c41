"""Known cases for the median interval, plus its coverage on synthetic lognormal ratios."""

from __future__ import annotations

import random

import pytest

from pytest_compress.stats import median_ci, relative_width


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


def test_min_n_for_median_ci_is_the_fewest_values_whose_range_keeps_the_confidence() -> None:
    from pytest_compress.stats import min_n_for_median_ci

    for confidence in (0.9, 0.95, 0.99, 0.9975):
        n = min_n_for_median_ci(confidence)
        # P(the median lies outside the sample's range) = 2 * 0.5**n
        assert 2 * 0.5**n <= 1 - confidence < 2 * 0.5 ** (n - 1)
