"""Paired intervals for the drop of a metric, from both models' per-example outcomes on the same
examples (pure statistics; numpy and scipy are imported inside the functions).

- **0/1 outcomes** (accuracy): Tango's score interval for a difference of paired proportions
  (Tango 1998, Statistics in Medicine 17:891-908). It is built on the discordant counts —
  b examples only the reference gets right, c only the compressed model — and keeps its coverage
  when few examples disagree. A percentile bootstrap does not: with no discordant example it
  returns [0, 0] although, at n = 360, up to ~1.8% of examples could flip at 99%; and with a few
  flips all one way it puts the true drop above its interval far more often than promised. The
  coverage table in the README (``bench/interval_coverage.py``) measures this.
- **Continuous outcomes** (log-likelihoods, cosines): scipy's paired BCa bootstrap, which corrects
  the percentile interval's bias and skew; the metric of a resample is the mean of its outcomes,
  or ``exp`` of that mean for ``aggregate="exp-mean"`` (perplexity).
- McNemar's exact test via ``scipy.stats.binomtest``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

AGGREGATES = ("mean", "exp-mean")


def discordant(reference: Sequence[float], compressed: Sequence[float]) -> tuple[int, int]:
    """(b, c): examples only the reference got right, and only the compressed model got right."""
    b = sum(1 for r, c in zip(reference, compressed, strict=True) if r > c)
    c = sum(1 for r, c2 in zip(reference, compressed, strict=True) if c2 > r)
    return b, c


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: under H0 b ~ Binomial(b + c, 1/2)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5).pvalue)


def _tango_z(delta: float, b: int, c: int, n: int) -> float:
    """Tango's score statistic for H0: p_ref - p_cmp = delta (restricted MLE of p_c in closed form)."""
    big_a = 2 * n
    big_b = -b - c + (2 * n - b + c) * delta
    big_c = -c * delta * (1 - delta)
    p21 = (math.sqrt(max(big_b * big_b - 4 * big_a * big_c, 0.0)) - big_b) / (2 * big_a)
    var = n * (2 * p21 + delta * (1 - delta))
    num = b - c - n * delta
    if var <= 0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def tango_ci(b: int, c: int, n: int, confidence: float) -> tuple[float, float]:
    """Score interval for p_ref - p_cmp from b (ref-only right) and c (cmp-only right) of n pairs.

    The statistic falls monotonically in delta, so each bound is found by bisection.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 1 or b < 0 or c < 0 or b + c > n:
        raise ValueError(f"need 0 <= b, c and b + c <= n >= 1, got b={b}, c={c}, n={n}")
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    point = (b - c) / n
    eps = 1e-12

    def solve(lo: float, hi: float, target: float) -> float:
        # Z(lo) >= target >= Z(hi); returns the delta where Z crosses target.
        for _ in range(80):
            mid = (lo + hi) / 2
            if _tango_z(mid, b, c, n) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = -1.0 if _tango_z(-1 + eps, b, c, n) <= z else solve(-1 + eps, point, z)
    high = 1.0 if _tango_z(1 - eps, b, c, n) >= -z else solve(point, 1 - eps, -z)
    return low, high


def bca_ci(
    reference: Sequence[float],
    compressed: Sequence[float],
    *,
    confidence: float,
    seed: int = 0,
    aggregate: str = "mean",
    resamples: int = 4000,
) -> tuple[float, float]:
    """Paired BCa bootstrap interval of metric(reference) - metric(compressed) (scipy.stats.bootstrap)."""
    import numpy as np
    from scipy.stats import bootstrap

    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(compressed, dtype=np.float64)
    if not (r - c).any():
        return 0.0, 0.0  # identical outputs on every example: no difference to resample

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        if aggregate == "mean":
            return np.mean(x - y, axis=axis)
        return np.exp(np.mean(x, axis=axis)) - np.exp(np.mean(y, axis=axis))

    def interval(method: str) -> tuple[float, float]:
        res = bootstrap(
            (r, c),
            statistic,
            paired=True,
            vectorized=True,
            confidence_level=confidence,
            n_resamples=resamples,
            method=method,
            rng=np.random.default_rng(seed),
        )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    lo, hi = interval("BCa")
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa undefined (e.g. one differing example)
        lo, hi = interval("percentile")
    return lo, hi


def is_binary(*outcomes: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for seq in outcomes for v in seq)


def drop_interval(
    reference: Sequence[float],
    compressed: Sequence[float],
    *,
    confidence: float,
    seed: int = 0,
    aggregate: str = "mean",
) -> tuple[float, float]:
    """Interval of metric(reference) - metric(compressed): Tango for 0/1 means, BCa otherwise."""
    if len(reference) != len(compressed) or not reference:
        raise ValueError("drop_interval needs two equally long, non-empty sequences")
    if aggregate == "mean" and is_binary(reference, compressed):
        b, c = discordant(reference, compressed)
        return tango_ci(b, c, len(reference), confidence)
    return bca_ci(reference, compressed, confidence=confidence, seed=seed, aggregate=aggregate)
