"""How much a case's results spread when its reference model is retrained — and whether a new
result lies inside that spread.

Why: trained weights differ between CPUs (float kernels round differently and training amplifies
the last bits), so a case run on another machine compresses *another* reference. Comparing its
result with the recording machine's single value and a fixed tolerance cannot tell a regression
from a different machine. A baseline refresh therefore records K independent draws of each case
(the reference retrained from K seeds, the method's own training reseeded); a seed change is a
fair stand-in for a machine change, because once training diverges the result is just another
draw from the same distribution.

The rule: for each gated quantity, a normal prediction interval for one new draw,

    mean ± t(K-1, 1 - alpha/2) * sd * sqrt(1 + 1/K),

never narrower than the case's fixed tolerance (which stays the floor: a quantity that did not
move across the K draws, such as the size of a quantized file, is held to it). ``alpha`` is
1 - the gates' confidence, so a lenient gate fails a retrained-but-unregressed case with
probability <= alpha/2 when the quantity is normal across draws. The t quantile pays for estimating
the sd from K draws: with K = 5 at 99% the half-width is 5.0 sd, with K = 10 3.5 sd.

Pure functions, no torch.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Quantities a spread entry records, per draw. The gates use reference, drop and compressed_bytes;
# compressed is kept for the reader (it is reference - drop).
FIELDS = ("reference", "compressed", "drop", "compressed_bytes")


class SpreadError(ValueError):
    """A spread entry that cannot be used (the caller names the file)."""


@dataclass(frozen=True)
class Spread:
    reference: tuple[float, ...]
    compressed: tuple[float, ...]
    drop: tuple[float, ...]
    compressed_bytes: tuple[int, ...]

    @property
    def draws(self) -> int:
        return len(self.reference)

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, f)) for f in FIELDS}
        if len(lengths) != 1 or not self.reference:
            raise SpreadError(f"spread needs the same non-zero number of values in {', '.join(FIELDS)}")
        for f in FIELDS:
            for v in getattr(self, f):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise SpreadError(f"spread.{f} holds {v!r}: every value must be a finite number")

    @classmethod
    def from_values(
        cls, reference: Sequence[float], compressed: Sequence[float], sizes: Sequence[int], higher_is_better: bool
    ) -> Spread:
        sign = 1 if higher_is_better else -1
        return cls(
            reference=tuple(reference),
            compressed=tuple(compressed),
            drop=tuple(sign * (r - c) for r, c in zip(reference, compressed, strict=True)),
            compressed_bytes=tuple(int(s) for s in sizes),
        )

    def to_json(self, digits: int) -> dict[str, Any]:
        doc: dict[str, Any] = {"draws": self.draws}
        for f in FIELDS:
            values = getattr(self, f)
            doc[f] = list(values) if f == "compressed_bytes" else [round(v, digits) for v in values]
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Spread:
        if not isinstance(data, Mapping):
            raise SpreadError(f"spread must be an object, got {type(data).__name__}")
        try:
            values = {f: data[f] for f in FIELDS}
        except KeyError as exc:
            raise SpreadError(f"spread is missing {exc}") from None
        for f, v in values.items():
            if not isinstance(v, list):
                raise SpreadError(f"spread.{f} must be a list of numbers")
        spread = cls(**{f: tuple(v) for f, v in values.items()})
        if data.get("draws", spread.draws) != spread.draws:
            raise SpreadError(f"spread.draws is {data.get('draws')!r} but {spread.draws} values are recorded")
        return spread


def t_quantile(p: float, dof: int) -> float:
    from scipy import stats  # scipy comes with scikit-learn; imported here to keep plugin load light

    return float(stats.t.ppf(p, dof))


@dataclass(frozen=True)
class Band:
    """Where one new draw is expected: ``[low, high]`` at the gates' confidence."""

    mean: float
    sd: float
    draws: int
    low: float
    high: float
    floored: bool  # the fixed tolerance was wider than the measured spread

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def band(values: Sequence[float], confidence: float, floor: float) -> Band:
    """Normal prediction interval for one new draw, half-width at least ``floor``."""
    if not values:
        raise SpreadError("band needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    k = len(values)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if k > 1 else 0.0
    half = t_quantile(1 - (1 - confidence) / 2, k - 1) * sd * math.sqrt(1 + 1 / k) if k > 1 else 0.0
    floored = half < floor
    half = max(half, floor)
    return Band(mean=mean, sd=sd, draws=k, low=mean - half, high=mean + half, floored=floored)


# How many recorded runs a latency entry keeps: the newest, once refreshes accumulate.
MAX_RECORDED_RUNS = 20


def accumulate(
    recorded: Sequence[float], new: Sequence[float], confidence: float, rel_floor: float
) -> tuple[float, ...]:
    """The runs a latency entry records after a refresh.

    Runs recorded within one session share that session's load and clock, so their spread
    under-states how far a speedup moves between sessions. A refresh whose runs agree with the
    recorded band (their mean inside it) therefore *adds* them, newest last, keeping
    ``MAX_RECORDED_RUNS``: the band learns the between-session spread. A refresh whose runs lie
    outside it replaces them — the speed really changed (a faster kernel, a new method version),
    and mixing both would widen the band over the change.
    """
    new = tuple(new)
    if not recorded or not new:
        return new
    mean = statistics.fmean(recorded)
    b = band(recorded, confidence, floor=rel_floor * mean)
    if b.low <= statistics.fmean(new) <= b.high:
        return (*recorded, *new)[-MAX_RECORDED_RUNS:]
    return new
