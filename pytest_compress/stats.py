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


def min_n_for_median_ci(confidence: float) -> int:
    """Fewest values for which ``median_ci`` can keep ``confidence`` (below it, it returns the
    sample's range, which covers less)."""
    n = 1
    while 2 * 0.5**n > 1 - confidence:
        n += 1
    return n


def relative_width(values: Sequence[float], confidence: float = 0.95) -> float:
    """Width of the median's interval divided by the median (0.05 = +-2.5%)."""
    lo, hi = median_ci(values, confidence)
    mid = sorted(values)[len(values) // 2]
    return (hi - lo) / abs(mid) if mid else math.inf
