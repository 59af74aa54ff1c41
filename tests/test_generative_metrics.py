"""Properties of the generative metrics (pytest_compress/measure/generative.py) and their place in
the plugin's metric mechanism (a set metric's value and paired interval)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_compress.measure.generative import (
    Gaussian,
    bits_per_dim,
    classes_covered,
    frechet,
    frechet_distance,
    label_tv_to,
    set_bootstrap_ci,
    set_metric_parts,
)
from pytest_compress.spec import Metric


def rows(seed: int, n: int = 200, d: int = 4, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, d=st.integers(1, 8))
def test_frechet_is_zero_for_identical_sets(seed, d):
    x = rows(seed, d=d)
    assert frechet_distance(x, x.copy()) == pytest.approx(0.0, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(a=seeds, b=seeds, d=st.integers(1, 8))
def test_frechet_is_symmetric_and_non_negative(a, b, d):
    x, y = rows(a, d=d), rows(b, d=d, scale=2.0)
    ab, ba = frechet_distance(x, y), frechet_distance(y, x)
    assert ab >= 0
    assert ab == pytest.approx(ba, rel=1e-7, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, d=st.integers(1, 8), shift=st.floats(0.1, 5.0))
def test_frechet_grows_with_a_shifted_set(seed, d, shift):
    x = rows(seed, d=d)
    near, far = frechet_distance(x, x + shift), frechet_distance(x, x + 2 * shift)
    # A pure shift changes the means only: the distance is exactly |shift|^2 per dimension.
    assert near == pytest.approx(d * shift**2, rel=1e-6)
    assert far > near


def test_frechet_matches_the_closed_form_for_diagonal_gaussians():
    # N(0, diag(a)) vs N(m, diag(b)): |m|^2 + sum (sqrt a - sqrt b)^2.
    a, b, m = np.array([1.0, 4.0]), np.array([9.0, 1.0]), np.array([1.0, -2.0])
    g1, g2 = Gaussian(mean=np.zeros(2), cov=np.diag(a)), Gaussian(mean=m, cov=np.diag(b))
    expected = float(m @ m + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    assert frechet(g1, g2) == pytest.approx(expected)


def test_frechet_refuses_mismatched_features():
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(rows(0, d=3), rows(1, d=4))
    with pytest.raises(ValueError, match="at least two"):
        Gaussian.fit(np.zeros((1, 3)))


@settings(max_examples=40, deadline=None)
@given(nats=st.floats(0.0, 1e4), dims=st.integers(1, 4096))
def test_bits_per_dim_is_nats_over_dims_ln2(nats, dims):
    bpd = bits_per_dim(nats, dims)
    assert bpd >= 0
    assert bpd * dims * math.log(2) == pytest.approx(nats)


def test_bits_per_dim_of_a_uniform_categorical_is_log2_levels():
    # A model that puts 1/17 on every grey level of 64 pixels spends log2(17) bits per pixel.
    assert bits_per_dim(64 * math.log(17), 64) == pytest.approx(math.log2(17))
    with pytest.raises(ValueError):
        bits_per_dim(1.0, 0)


def one_hot(labels: list[int]) -> np.ndarray:
    return np.eye(10)[labels]


def test_label_tv_and_coverage():
    uniform = [0.1] * 10
    assert label_tv_to(uniform)(one_hot(list(range(10)) * 5)) == pytest.approx(0.0)
    assert label_tv_to(uniform)(one_hot([3] * 20)) == pytest.approx(0.9)  # all one digit
    assert classes_covered(one_hot([1, 1, 2, 9])) == 3
    with pytest.raises(ValueError, match="probability"):
        label_tv_to([0.5, 0.6])


def test_set_bootstrap_is_zero_for_identical_sets_and_covers_a_real_shift():
    ref = rows(0, n=300, d=3)
    stat = lambda r: frechet_distance(r, rows(1, n=300, d=3))  # noqa: E731
    assert set_bootstrap_ci(ref, ref.copy(), stat, confidence=0.99) == (0.0, 0.0)
    worse = ref + 1.0  # every compressed sample moved by 1 in each of 3 dims: FD grows by ~3
    lo, hi = set_bootstrap_ci(ref, worse, stat, confidence=0.99, resamples=300)
    point = stat(ref) - stat(worse)
    assert hi < 0, "a compressed set that is clearly farther from the real one must show a drop"
    assert lo <= point <= hi


def test_set_metric_in_the_metric_mechanism():
    from pytest_compress.measure.accuracy import paired_metric

    real = Gaussian.fit(rows(1, n=300, d=3))
    metric = Metric(
        name="fd",
        unit="u",
        higher_is_better=False,
        score=lambda o, t: o,
        aggregate="set",
        **set_metric_parts(lambda r: frechet(real, Gaussian.fit(r)), higher_is_better=False),
    )
    ref = tuple(rows(0, n=300, d=3))
    cmp = tuple(rows(0, n=300, d=3) + 1.0)
    result = paired_metric(metric, ref, cmp, confidence=0.99, seed=0)
    assert result.compressed > result.reference
    # Lower is better: the drop is compressed - reference, and its interval says "worse".
    assert result.drop > 0 and result.drop_ci[0] > 0
    assert result.drop_ci[0] <= result.drop <= result.drop_ci[1]
    same = paired_metric(metric, ref, ref, confidence=0.99, seed=0)
    assert same.drop == 0 and same.drop_ci == (0.0, 0.0)
