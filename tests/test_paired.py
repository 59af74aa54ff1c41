"""Paired intervals for the metric drop: Tango's score interval (0/1) and the BCa bootstrap."""

from __future__ import annotations

import random

import pytest
from scipy.stats import norm

from pytest_compress.paired import bca_ci, discordant, drop_interval, mcnemar_exact_p, tango_ci


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


def test_no_disagreement_still_bounds_the_drop_like_the_rule_of_three() -> None:
    # b = c = 0: the score interval solves n*d/(1-d) = z^2, i.e. d = z^2 / (n + z^2) — not [0, 0].
    z = norm.ppf(0.995)
    lo, hi = tango_ci(0, 0, 360, 0.99)
    assert hi == pytest.approx(z * z / (360 + z * z), rel=1e-6) and lo == pytest.approx(-hi, rel=1e-6)


def test_tango_is_antisymmetric_and_contains_the_point_estimate() -> None:
    lo, hi = tango_ci(12, 3, 360, 0.95)
    assert lo < 9 / 360 < hi
    assert tango_ci(3, 12, 360, 0.95) == pytest.approx((-hi, -lo))
    narrow, wide = tango_ci(12, 3, 360, 0.9), tango_ci(12, 3, 360, 0.999)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]


@pytest.mark.parametrize(("flips", "back"), [(0.005, 0.0), (0.01, 0.0), (0.02, 0.01)])
def test_tango_keeps_both_tails_within_twice_nominal_when_few_examples_disagree(flips: float, back: float) -> None:
    """The case the percentile bootstrap failed: a 0.5-1 pt drop from a handful of one-way flips."""
    rng = random.Random(7)
    n, trials, true_drop = 360, 2000, flips - back
    above = below = 0
    for _ in range(trials):
        b = sum(rng.random() < flips for _ in range(n))
        c = sum(rng.random() < back for _ in range(n - b)) if back else 0
        lo, hi = tango_ci(b, c, n, 0.99)
        above += true_drop > hi
        below += true_drop < lo
    # Nominal 0.5% each; allow 2x (20 of 2000), which the bootstrap missed by 3-30x.
    assert above <= 20 and below <= 20


def test_binary_outcomes_use_tango_and_continuous_ones_bca() -> None:
    ref = [1.0] * 300 + [0.0] * 60
    cmp = list(ref)
    for i in range(12):
        cmp[i] = 0.0
    assert drop_interval(ref, cmp, confidence=0.95) == tango_ci(12, 0, 360, 0.95)
    rng = random.Random(1)
    r = [rng.gauss(0, 1) for _ in range(64)]
    c = [x + rng.gauss(0.1, 0.3) for x in r]
    lo, hi = drop_interval(r, c, confidence=0.99, seed=3)
    assert (lo, hi) == bca_ci(r, c, confidence=0.99, seed=3)  # seeded: reproducible
    assert lo < -0.1 < hi < 0.1
    assert bca_ci(r, r, confidence=0.99) == (0.0, 0.0)


def test_bca_covers_a_known_continuous_drop() -> None:
    rng = random.Random(3)
    hits = 0
    for trial in range(60):
        r = [rng.gauss(0.9, 0.05) for _ in range(96)]
        c = [x - 0.02 + rng.gauss(0, 0.03) for x in r]  # true mean drop 0.02
        lo, hi = bca_ci(r, c, confidence=0.95, seed=trial, resamples=1000)
        hits += lo <= 0.02 <= hi
    assert hits >= 52  # 95% nominal of 60 is 57; binomial slack
