"""Metrics for generative models that need no downloaded network (pure numpy/scipy, no torch).

- **Bits per dimension** of a held-out negative ELBO: ``nats / (dims * ln 2)`` per example, so a
  VAE's drop is paired example by example like accuracy.
- **Fréchet distance** between two sets of feature rows (Heusel et al., 2017 — FID's formula):
  ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``, computed through symmetric
  eigendecompositions (no complex ``sqrtm`` round-off). The features are the suite's own digit
  classifier's (``zoo/generative.py``), not Inception's: nothing is downloaded, and the distance
  is only as good as that classifier's view of a digit.
- **Label distribution** of samples: total variation distance to the real digits' label
  distribution, and how many classes the samples cover.

These are *set* statistics: the metric of a set is not a mean of per-example numbers. They plug
into the plugin's set metrics (``Metric(aggregate="set", summarize=..., paired_interval=...)``)
through ``set_metric_parts``; the drop interval is a paired percentile bootstrap over samples
(``set_bootstrap_ci``): the same resampled indices for reference and compressed rows, which is
what pairing by noise seed buys.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Statistic = Callable[[np.ndarray], float]


def bits_per_dim(nats: Any, dims: int) -> Any:
    """Negative log-likelihood (or ELBO) in nats per example -> bits per dimension."""
    if dims < 1:
        raise ValueError(f"dims must be >= 1, got {dims}")
    return nats / (dims * math.log(2))


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance (negative round-off eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


@dataclass(frozen=True)
class Gaussian:
    """Mean and covariance of a set of feature rows. The covariance's square root is computed on
    first use and kept: a bootstrap compares hundreds of resamples to one real set, and only that
    set's root is needed (``frechet(real, resample)``)."""

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def fit(cls, rows: Any) -> Gaussian:
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"need at least two feature rows (n, d), got shape {x.shape}")
        return cls(mean=x.mean(axis=0), cov=np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1]))

    @functools.cached_property
    def cov_sqrt(self) -> np.ndarray:
        return _psd_sqrt(self.cov)


def frechet(a: Gaussian, b: Gaussian) -> float:
    """Fréchet distance between two Gaussians (0 for identical ones; symmetric)."""
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature sizes differ: {a.mean.shape} vs {b.mean.shape}")
    cross = np.linalg.eigvalsh(a.cov_sqrt @ b.cov @ a.cov_sqrt)
    trace_sqrt = float(np.sqrt(np.clip(cross, 0.0, None)).sum())
    diff = a.mean - b.mean
    d = float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_sqrt)
    return max(d, 0.0)  # exact zero can come out as -1e-13


def frechet_distance(rows_a: Any, rows_b: Any) -> float:
    """Fréchet distance between the Gaussians fitted to two sets of feature rows."""
    return frechet(Gaussian.fit(rows_a), Gaussian.fit(rows_b))


def frechet_to(real: Gaussian) -> Statistic:
    """The statistic "Fréchet distance of these rows to ``real``"."""
    return lambda rows: frechet(real, Gaussian.fit(rows))


def label_histogram(one_hot: Any, classes: int) -> np.ndarray:
    """Fraction of rows per class, from one-hot rows (or class probabilities)."""
    x = np.asarray(one_hot, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != classes or not len(x):
        raise ValueError(f"need rows of {classes} class scores, got shape {x.shape}")
    return x.sum(axis=0) / len(x)


def label_tv_to(target: Sequence[float]) -> Statistic:
    """The statistic "total variation distance of the rows' label distribution to ``target``"
    (0: the same class balance; 1: disjoint classes)."""
    p = np.asarray(target, dtype=np.float64)
    if p.ndim != 1 or not math.isclose(float(p.sum()), 1.0, rel_tol=1e-9) or (p < 0).any():
        raise ValueError("target must be a probability vector")
    return lambda rows: float(0.5 * np.abs(label_histogram(rows, len(p)) - p).sum())


def classes_covered(rows: Any) -> float:
    """How many classes at least one row is labelled with (one-hot rows)."""
    x = np.asarray(rows, dtype=np.float64)
    return float((x.sum(axis=0) > 0).sum())


def set_bootstrap_ci(
    reference: Any,
    compressed: Any,
    statistic: Statistic,
    *,
    confidence: float,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[float, float]:
    """Paired percentile-bootstrap interval of statistic(reference) - statistic(compressed).

    Both sets are resampled with the *same* example indices (row i of each came from the same
    noise seed), so what the two models share cancels out of the difference. Percentile, not BCa:
    BCa's jackknife would cost one statistic per example on top (a Fréchet distance is an
    eigendecomposition), and the bootstrap here is over a few hundred samples of a smooth
    statistic. Identical sets give [0, 0].
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(compressed, dtype=np.float64)
    if r.shape != c.shape or not len(r):
        raise ValueError(f"need two equally shaped, non-empty sets of rows, got {r.shape} and {c.shape}")
    if np.array_equal(r, c):
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    n = len(r)
    diffs = np.empty(resamples)
    with _one_blas_thread():
        for i in range(resamples):
            idx = rng.integers(0, n, n)
            diffs[i] = statistic(r[idx]) - statistic(c[idx])
    alpha = 1 - confidence
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _one_blas_thread():  # noqa: ANN202
    """BLAS limited to one thread: small (128 x 128) eigendecompositions run 20x faster than with
    a thread per core on a busy 2-core machine (3.5 vs 74 ms per Fréchet distance, measured)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it, the default threads
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def rows_of(records: Sequence[Any]) -> np.ndarray:
    """Per-example records (1-D tensors or sequences of numbers) -> a float64 array (n, d)."""
    return np.stack([np.asarray(r, dtype=np.float64) for r in records])


def set_metric_parts(statistic: Statistic, higher_is_better: bool) -> dict[str, Any]:
    """``summarize`` and ``paired_interval`` for a ``pytest_compress.Metric(aggregate="set")`` whose
    records are feature rows and whose value is ``statistic(rows)``; the interval is the drop's
    (positive: the compressed model is worse), as the plugin's gates read it."""

    def summarize(records: Sequence[Any]) -> float:
        return float(statistic(rows_of(records)))

    def paired_interval(ref: Sequence[Any], cmp: Sequence[Any], confidence: float, seed: int) -> tuple[float, float]:
        lo, hi = set_bootstrap_ci(rows_of(ref), rows_of(cmp), statistic, confidence=confidence, seed=seed)
        return (lo, hi) if higher_is_better else (-hi, -lo)

    return {"summarize": summarize, "paired_interval": paired_interval}
