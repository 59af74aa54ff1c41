"""Interleaved A/B timing of a reference and a compressed callable in one process.

Why interleaved: on a shared, noisy machine the speed of the whole box drifts over seconds.
Timing A then B in alternation (ABBA order, so neither always goes first) makes both see the
same drift, and the per-pair ratio cancels it; absolute milliseconds are reported but never
gate. The garbage collector is off while timing so a collection never lands in one sample.

When to stop: looking at the interval after every pair and stopping as soon as it clears a limit
is optional stopping — it inflates the error rate the interval promises (each look is another
chance for noise to clear the limit). So sampling is *group-sequential*: ``looks`` planned looks,
at equal fractions of the time budget (the first not before ``min_pairs``; the last when the
budget is spent or at ``max_pairs``), each at confidence ``1 - (1 - confidence) / looks``
(Bonferroni: the chance that *any* look's interval misses the true median is at most
``1 - confidence``, whatever the stop rule does). At a look, sampling stops if
``decided(interval)`` says every limit is settled (the interval lies clear of all of them); only
when there are no limits (``decided`` is None) does a narrow interval (``target_rel_width``)
stop it. The reported interval is the last look's, at that per-look confidence, so the gates
inherit the guarantee.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from pytest_compress.stats import median_ci, relative_width

Clock = Callable[[], float]


@dataclass(frozen=True)
class Timing:
    reference_s: tuple[float, ...]  # seconds per call, one entry per sample
    compressed_s: tuple[float, ...]
    calls_per_sample: int
    confidence: float = 0.95

    @property
    def ratios(self) -> tuple[float, ...]:
        """reference / compressed per pair: > 1 means the compressed model is faster."""
        return tuple(r / c for r, c in zip(self.reference_s, self.compressed_s, strict=True) if c > 0)

    @property
    def speedup(self) -> float:
        return statistics.median(self.ratios)

    @property
    def speedup_ci(self) -> tuple[float, float]:
        return median_ci(self.ratios, self.confidence)

    @property
    def reference_ms(self) -> float:
        return statistics.median(self.reference_s) * 1e3

    @property
    def compressed_ms(self) -> float:
        return statistics.median(self.compressed_s) * 1e3


def _sample(fn: Callable[[], object], calls: int, clock: Clock) -> float:
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def look_confidence(confidence: float, looks: int) -> float:
    """Per-look confidence of ``looks`` planned looks that together keep ``confidence``."""
    return 1 - (1 - confidence) / looks


def interleaved(
    reference: Callable[[], object],
    compressed: Callable[[], object],
    *,
    min_pairs: int = 10,
    max_pairs: int = 200,
    budget_s: float = 3.0,
    target_rel_width: float = 0.05,
    confidence: float = 0.95,
    decided: Callable[[tuple[float, float]], bool] | None = None,
    looks: int = 4,
    warmup: int = 3,
    min_sample_s: float = 0.002,
    clock: Clock = time.perf_counter,
) -> Timing:
    if min_pairs < 1 or max_pairs < min_pairs:
        raise ValueError(f"need 1 <= min_pairs <= max_pairs, got {min_pairs}, {max_pairs}")
    if looks < 1:
        raise ValueError(f"need looks >= 1, got {looks}")
    per_look = look_confidence(confidence, looks)
    for _ in range(warmup):
        reference()
        compressed()
    # Several calls per sample keep each sample well above the timer's resolution.
    one = max(_sample(reference, 1, clock), _sample(compressed, 1, clock), 1e-9)
    calls = max(1, math.ceil(min_sample_s / one))
    ref_s: list[float] = []
    cmp_s: list[float] = []
    done_looks = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        while len(ref_s) < max_pairs:
            if len(ref_s) % 2 == 0:
                a = _sample(reference, calls, clock)
                b = _sample(compressed, calls, clock)
            else:
                b = _sample(compressed, calls, clock)
                a = _sample(reference, calls, clock)
            ref_s.append(a)
            cmp_s.append(b)
            if len(ref_s) < min_pairs:
                continue
            # Looks due so far: one per budget fraction elapsed (several at once count as one).
            due = min(looks, math.floor((clock() - start) / budget_s * looks))
            last = len(ref_s) >= max_pairs or due >= looks
            if due <= done_looks and not last:
                continue
            done_looks = max(due, done_looks + 1)
            ratios = [a / b for a, b in zip(ref_s, cmp_s, strict=True) if b > 0]
            if decided is not None:
                if decided(median_ci(ratios, per_look)):
                    break
            elif relative_width(ratios, per_look) <= target_rel_width:
                break
            if last or done_looks >= looks:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing(tuple(ref_s), tuple(cmp_s), calls, per_look)
