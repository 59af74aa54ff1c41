"""Interleaved A/B timing of a reference and a compressed callable in one process.

Why interleaved: on a shared, noisy machine the speed of the whole box drifts over seconds.
Timing A then B in alternation (ABBA order, so neither always goes first) makes both see the
same drift, and the per-pair ratio cancels it; absolute milliseconds are reported but never
gate. The garbage collector is off while timing so a collection never lands in one sample.

Why settling calls: a model timed right after the *other* model runs slower than one timed right
after itself (a carry-over: caches, branch predictors, whatever the other model's weights and
code pushed out), and it takes a few calls to recover — ResNet-18's int8 model, about 1.0 ms in
its steady state, took 1.86 ms on its first call after the float reference and 1.39, 1.28, 1.20 ms
on the next (``tools/settle_decay.py``; README, "How it measures"). How large that cold start
is depends on the rest of the process and the machine, so speedups that include it moved by a
third between runs. Each sample is therefore preceded by untimed calls of the same model
(``settle``, at most ``settle_s`` of them), and the speedup is a steady-state one, like every per-call benchmark's.

Why blocks of two pairs: what remains of the carry-over favours whichever model followed itself.
In ABBA order every second pair swaps which model that is, so, as in a crossover trial, each pair
in reference-first order is combined with the next, compressed-first pair: the block's ratio is
the geometric mean of the two, in which a carry-over cancels; the speedup and its interval are the
median and its interval over blocks (``Timing.block_ratios``). Every look has at least the blocks
its interval needs to keep its confidence (``min_n_for_median_ci``), even past the budget.

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

Below ``interleaved``, the wrappers a case times models with (``time_pair``, ``time_workload``)
and their settings (``RunSettings``). Torch is imported inside them: the sampler itself is pure
Python, testable with a fake clock.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_compress.results import LatencyResult
from pytest_compress.stats import median_ci, min_n_for_median_ci, relative_width

if TYPE_CHECKING:
    import torch
    from torch import nn

Clock = Callable[[], float]

# What a speedup is (recorded in latency baselines: runs timed another way are not comparable):
# the median over blocks of two pairs (``block_ratios``) of samples timed after settling calls.
# Older entries: "abba-blocks" (no settling calls), "" (median of per-pair ratios).
SPEEDUP_ESTIMATOR = "abba-blocks-settled"


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
    def block_ratios(self) -> tuple[float, ...]:
        """One ratio per block of two pairs (reference first, then compressed first)."""
        return block_ratios(self.reference_s, self.compressed_s)

    @property
    def speedup(self) -> float:
        return statistics.median(speedup_units(self.reference_s, self.compressed_s))

    @property
    def speedup_ci(self) -> tuple[float, float]:
        return median_ci(speedup_units(self.reference_s, self.compressed_s), self.confidence)

    @property
    def reference_ms(self) -> float:
        return statistics.median(self.reference_s) * 1e3

    @property
    def compressed_ms(self) -> float:
        return statistics.median(self.compressed_s) * 1e3


def block_ratios(reference_s: Sequence[float], compressed_s: Sequence[float]) -> tuple[float, ...]:
    """Geometric mean of the ratios of pairs 2i (reference first) and 2i + 1 (compressed first):
    a carry-over from one model to the next cancels in it. A last, unmatched pair is left out."""
    out = []
    for i in range(0, min(len(reference_s), len(compressed_s)) - 1, 2):
        r0, c0, r1, c1 = reference_s[i], compressed_s[i], reference_s[i + 1], compressed_s[i + 1]
        if c0 > 0 and c1 > 0:
            out.append(math.sqrt((r0 / c0) * (r1 / c1)))
    return tuple(out)


def speedup_units(reference_s: Sequence[float], compressed_s: Sequence[float]) -> tuple[float, ...]:
    """What the speedup is the median of: block ratios, or pair ratios while there is no block."""
    blocks = block_ratios(reference_s, compressed_s)
    return blocks or tuple(r / c for r, c in zip(reference_s, compressed_s, strict=True) if c > 0)


def _sample(fn: Callable[[], object], calls: int, clock: Clock, settle: int = 0) -> float:
    for _ in range(settle):
        fn()
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
    settle: int = 5,
    settle_s: float = 0.02,
    clock: Clock = time.perf_counter,
) -> Timing:
    if min_pairs < 1 or max_pairs < min_pairs:
        raise ValueError(f"need 1 <= min_pairs <= max_pairs, got {min_pairs}, {max_pairs}")
    if looks < 1:
        raise ValueError(f"need looks >= 1, got {looks}")
    per_look = look_confidence(confidence, looks)
    # Every look needs enough blocks for its interval to keep its confidence (fewer give the
    # blocks' range, which covers less): that many pairs are taken even past the budget.
    min_pairs = min(max_pairs, max(min_pairs, 2 * min_n_for_median_ci(per_look)))
    for _ in range(warmup):
        reference()
        compressed()
    # Several calls per sample keep each sample well above the timer's resolution.
    # (compressed first: the reference, which opens the first pair, then follows itself)
    one_cmp, one_ref = _sample(compressed, 1, clock), _sample(reference, 1, clock)
    calls = max(1, math.ceil(min_sample_s / max(one_cmp, one_ref, 1e-9)))
    # Untimed calls before each sample, so it is timed in the model's steady state, not while it
    # recovers from the other model's run (up to ``settle`` calls, within ``settle_s``).
    settle_ref, settle_cmp = (min(settle, int(settle_s / max(one, 1e-9))) for one in (one_ref, one_cmp))
    ref_s: list[float] = []
    cmp_s: list[float] = []
    done_looks = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        while len(ref_s) < max_pairs:
            if len(ref_s) % 2 == 0:
                a = _sample(reference, calls, clock, settle_ref)
                b = _sample(compressed, calls, clock, settle_cmp)
            else:
                b = _sample(compressed, calls, clock, settle_cmp)
                a = _sample(reference, calls, clock, settle_ref)
            ref_s.append(a)
            cmp_s.append(b)
            # Looks only at whole blocks (an even number of pairs), unless max_pairs ends it.
            if len(ref_s) < min_pairs or (len(ref_s) % 2 and len(ref_s) < max_pairs):
                continue
            # Looks due so far: one per budget fraction elapsed (several at once count as one).
            due = min(looks, math.floor((clock() - start) / budget_s * looks))
            last = len(ref_s) >= max_pairs or due >= looks
            if due <= done_looks and not last:
                continue
            done_looks = max(due, done_looks + 1)
            ratios = speedup_units(ref_s, cmp_s)
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


@dataclass(frozen=True)
class RunSettings:
    threads: int = 1
    device: str = "cpu"
    latency_budget_s: float = 3.0
    latency_min_pairs: int = 10
    latency_target_width: float = 0.10
    latency_looks: int = 4  # planned looks of the group-sequential stop rule (``interleaved``)
    confidence: float = 0.99
    # Speedup limits the gates will compare against (``gates.GatePlan.speedup_limits``): timing
    # stops early once its interval is clear of all of them.
    latency_limits: tuple[float, ...] = ()
    seed: int = 0
    # Which independent draw of the reference (and of any training a method does) this case uses:
    # 0 is the one every run measures; 1.. are the extra draws a baseline refresh records to learn
    # how much results spread when the reference is retrained (see spread.py).
    draw: int = 0
    # Time the forward, and the model's extra workloads (a baseline refresh's extra draws time
    # only the forward: its run-to-run spread is what the latency baseline records).
    timed: bool = True
    workloads: bool = True
    memory: bool = False  # measure peak inference memory (measure/memory.py)


def clear_of(limits: tuple[float, ...]):  # noqa: ANN201
    """A stop rule: the interval already lies on one side of every limit, so more samples can't
    change any gate's decision."""
    if not limits:
        return None
    return lambda ci: all(ci[0] > x or ci[1] < x for x in limits)


def _synced(call: Callable[[], object], device: str) -> Callable[[], object]:
    """``call`` followed by a device synchronisation, so GPU work is timed, not just launched."""
    if "cuda" not in device:
        return call
    import torch

    def run() -> None:
        call()
        torch.cuda.synchronize()

    return run


def time_pair(
    reference: nn.Module,
    compressed: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    settings: RunSettings,
    ref_device: str,
    cmp_device: str,
) -> LatencyResult:
    """One forward over ``inputs``, reference vs compressed."""
    import torch

    ref_in = tuple(t.to(ref_device) for t in inputs)
    cmp_in = tuple(t.to(cmp_device) for t in inputs)
    sync = torch.cuda.synchronize if "cuda" in (ref_device + cmp_device) else (lambda: None)

    def run_ref() -> None:
        reference(*ref_in)
        sync()

    def run_cmp() -> None:
        compressed(*cmp_in)
        sync()

    return time_workload("forward", run_ref, run_cmp, settings)


def time_workload(
    name: str, run_ref: Callable[[], object], run_cmp: Callable[[], object], settings: RunSettings
) -> LatencyResult:
    """Interleaved timing of two zero-argument calls, under the run's thread count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        # Warnings are off while timing, as a precaution: pytest records warnings raised inside a
        # test, and torch.ao's quantized ops can warn on every forward; that bookkeeping must not
        # be timed. (Not measured to matter on its own; evaluation, right after, runs with
        # warnings on, so nothing is hidden from the user.)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = interleaved(
                run_ref,
                run_cmp,
                budget_s=settings.latency_budget_s,
                min_pairs=settings.latency_min_pairs,
                target_rel_width=settings.latency_target_width,
                confidence=settings.confidence,
                decided=clear_of(settings.latency_limits),
                looks=settings.latency_looks,
            )
    finally:
        torch.set_num_threads(previous)
    return LatencyResult(
        reference_ms=t.reference_ms,
        compressed_ms=t.compressed_ms,
        speedup=t.speedup,
        speedup_ci=t.speedup_ci,
        pairs=len(t.ratios),
        calls_per_sample=t.calls_per_sample,
        threads=settings.threads,
        ratios=t.ratios,
        workload=name,
        reference_s=t.reference_s,
        compressed_s=t.compressed_s,
    )
