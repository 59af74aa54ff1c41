"""Pure statistics (no torch): distribution-free confidence intervals for a median.

The median's interval comes from order statistics: for n i.i.d. samples the number of samples
below the true median is Binomial(n, 1/2), so [x_(k), x_(n-k+1)] covers it with probability
1 - 2 * P(B <= k - 1). No normality assumption — timing ratios are skewed and heavy-tailed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _binom_cdf_half(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A conservative (coverage >= ``confidence``) interval for the median of ``values``.

    With too few samples for the requested confidence, returns (min, max) of the samples.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("median_ci needs at least one value")
    alpha = 1 - confidence
    # Largest k with 2 * P(B <= k - 1) <= alpha: the interval [x_(k), x_(n-k+1)] (1-based).
    k = 0
    while k + 1 <= n // 2 and 2 * _binom_cdf_half(k, n) <= alpha:
        k += 1
    if k == 0:
        return xs[0], xs[-1]
    return xs[k - 1], xs[n - k]


def relative_width(values: Sequence[float], confidence: float = 0.95) -> float:
    """Width of the median's interval divided by the median (0.05 = +-2.5%)."""
    lo, hi = median_ci(values, confidence)
    mid = sorted(values)[len(values) // 2]
    return (hi - lo) / abs(mid) if mid else math.inf


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant counts ``b`` and ``c``.

    Under H0 (both models equally accurate) b ~ Binomial(b + c, 1/2); the p-value doubles the
    smaller tail, capped at 1.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * _binom_cdf_half(min(b, c), n))


def paired_bootstrap_ci(
    reference: Sequence[float],
    compressed: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 4000,
    seed: int = 0,
    aggregate: str = "mean",
) -> tuple[float, float]:
    """Percentile interval of metric(reference) - metric(compressed) under resampling of *examples*.

    The metric of a resample is the mean of its outcomes (``aggregate="mean"``) or the exp of
    that mean (``"exp-mean"``: perplexity from per-example log-likelihoods). Pairs stay together,
    so the interval reflects how much the two models disagree on the same examples — not the
    (much larger) spread of each metric on its own. Seeded: the same outcomes always give the
    same interval.
    """
    import numpy as np  # numpy is a dependency, but keep plugin load light

    if len(reference) != len(compressed) or not reference:
        raise ValueError("paired_bootstrap_ci needs two equally long, non-empty sequences")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if aggregate not in ("mean", "exp-mean"):
        raise ValueError(f"aggregate must be 'mean' or 'exp-mean', got {aggregate!r}")
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(compressed, dtype=np.float64)
    d = r - c
    if not d.any():
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    if aggregate == "mean":
        means = d[idx].mean(axis=1)
    else:
        means = np.exp(r[idx].mean(axis=1)) - np.exp(c[idx].mean(axis=1))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def discordant(reference: Sequence[float], compressed: Sequence[float]) -> tuple[int, int]:
    """(b, c): examples only the reference got right, and only the compressed model got right."""
    b = sum(1 for r, c in zip(reference, compressed, strict=True) if r > c)
    c = sum(1 for r, c2 in zip(reference, compressed, strict=True) if c2 > r)
    return b, c
