"""Command-line options and ini keys. Names are module constants so tests import, not retype, them.

Every option value is a plain, serialisable type (xdist ships them to workers); the CLI wins
over the ini file, which wins over the built-in default.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_compress.thresholds import MODES, Policy, Thresholds

GROUP = "compress"
REPORT = "--compress-report"
UPDATE = "--compress-update-baselines"
UPDATE_LATENCY = "--compress-update-latency"
BASELINE_DIR = "--compress-baseline-dir"
CACHE_DIR = "--compress-cache-dir"
THREADS = "--compress-threads"
DEVICE = "--compress-device"
LATENCY_BUDGET = "--compress-latency-budget"
GATE_MODE = "--compress-gate-mode"
CONFIDENCE = "--compress-confidence"
STRICT_BASELINES = "--compress-strict-baselines"
DRAWS = "--compress-draws"
PLOTS = "--compress-plots"
MEMORY = "--compress-memory"

INI_BASELINE_DIR = "compress_baseline_dir"
INI_CACHE_DIR = "compress_cache_dir"
INI_THREADS = "compress_threads"
INI_DEVICE = "compress_device"
INI_LATENCY_BUDGET = "compress_latency_budget"
INI_GATE_MODE = "compress_gate_mode"
INI_CONFIDENCE = "compress_confidence"
INI_STRICT_BASELINES = "compress_strict_baselines"
INI_DRAWS = "compress_draws"
INI_MEMORY = "compress_memory"
DEFAULT_DRAWS = 5
INI_THRESHOLD_PREFIX = "compress_"  # + a Thresholds field, e.g. compress_max_accuracy_drop

# The built-in ones; plugins add more (report/writers.py).
REPORT_FORMATS = ("term", "json", "md", "html", "benchmark-json")
FORMAT_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class ReportTarget:
    format: str
    path: str | None = None


def parse_report(value: str) -> ReportTarget:
    """The syntax only: whether ``FORMAT`` exists is checked once plugins have added theirs."""
    fmt, sep, path = value.partition(":")
    if not FORMAT_NAME.fullmatch(fmt) or (fmt == "term") == bool(sep):
        raise argparse.ArgumentTypeError(
            f"expected 'term', 'json:PATH', 'md:PATH', 'html:PATH' or a plugin's FORMAT:PATH, got {value!r}"
        )
    if sep and not path:
        raise argparse.ArgumentTypeError(f"{value!r}: missing PATH after '{fmt}:'")
    return ReportTarget(fmt, path or None)


def _number(kind: Callable[[str], Any], ok: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """An argparse ``type=`` parser that names what it expected, for the CLI and ini keys alike."""

    def parse(value: str) -> Any:
        try:
            x = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}") from None
        if not ok(x):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
        return x

    return parse


positive_int = _number(int, lambda n: n >= 1, "a whole number >= 1")
positive_float = _number(float, lambda x: x > 0, "a number > 0")
confidence = _number(float, lambda x: 0.5 <= x < 1, "a number in [0.5, 1)")


def gate_mode(value: str) -> str:
    if value not in MODES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(MODES)}, got {value!r}")
    return value


def directory(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a directory, got ''")
    return value


def device_name(value: str) -> str:
    if value != "cpu" and not (value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit())):
        raise argparse.ArgumentTypeError(f"expected 'cpu', 'cuda' or 'cuda:N', got {value!r}")
    return value


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "model compression regression testing (pytest-compress)")
    group.addoption(
        REPORT,
        action="append",
        nargs="?",
        const=ReportTarget("term"),
        type=parse_report,
        metavar="FORMAT",
        dest="compress_report",
        help="print the comparison table (no value, or 'term'), or write it as json:PATH, "
        "md:PATH, html:PATH (self-contained page with Pareto plots; needs matplotlib), "
        "benchmark-json:PATH (timings for pytest-benchmark's tools) or a plugin's "
        "FORMAT:PATH; may be given several times. Default: no report.",
    )
    group.addoption(
        PLOTS,
        metavar="DIR",
        type=directory,
        dest="compress_plots",
        default=None,
        help="write per model a Pareto plot (PNG) of the metric drop vs. size reduction and vs. "
        "speedup into DIR (needs matplotlib). Default: no plots.",
    )
    group.addoption(
        UPDATE,
        action="store_true",
        dest="compress_update",
        help="write/refresh baselines from this run instead of comparing against them. Default: compare.",
    )
    group.addoption(
        UPDATE_LATENCY,
        action="store_true",
        dest="compress_update_latency",
        help="refresh only this machine's latency baselines (baselines/latency/<machine>.json) from this "
        "run; quality baselines are compared as usual and left as they are. A run that agrees with the "
        "recorded ones is added to them, so repeated runs teach the baseline its run-to-run spread.",
    )
    group.addoption(
        BASELINE_DIR,
        metavar="DIR",
        dest="compress_baseline_dir",
        default=None,
        help=f"where baselines live (ini: {INI_BASELINE_DIR}). Default: baselines/ under rootdir.",
    )
    group.addoption(
        CACHE_DIR,
        metavar="DIR",
        dest="compress_cache_dir",
        default=None,
        help=f"where trained weights are cached (ini: {INI_CACHE_DIR}). Default: .compress-cache/ under rootdir.",
    )
    group.addoption(
        THREADS,
        metavar="N",
        type=positive_int,
        dest="compress_threads",
        default=None,
        help=f"torch threads for everything a case computes: training, compression, evaluation and timing; "
        f"part of the weights' cache key and of the latency key (ini: {INI_THREADS}). Default: 1.",
    )
    group.addoption(
        DEVICE,
        metavar="DEV",
        type=device_name,
        dest="compress_device",
        default=None,
        help=f"device for evaluation and timing: cpu, cuda, cuda:N (ini: {INI_DEVICE}). Default: cpu.",
    )
    group.addoption(
        LATENCY_BUDGET,
        metavar="SECONDS",
        type=positive_float,
        dest="compress_latency_budget",
        default=None,
        help=f"time spent on interleaved timing per case (ini: {INI_LATENCY_BUDGET}). Default: 3.",
    )
    group.addoption(
        GATE_MODE,
        metavar="MODE",
        type=gate_mode,
        dest="compress_gate_mode",
        default=None,
        help=f"lenient: fail when confidently worse than allowed (CI); strict: fail unless "
        f"confidently within budget (release gates) (ini: {INI_GATE_MODE}). Default: lenient.",
    )
    group.addoption(
        CONFIDENCE,
        metavar="LEVEL",
        type=confidence,
        dest="compress_confidence",
        default=None,
        help=f"confidence of the intervals gates decide on (ini: {INI_CONFIDENCE}). Default: 0.99.",
    )
    group.addoption(
        STRICT_BASELINES,
        action="store_true",
        dest="compress_strict_baselines",
        default=None,
        help=f"fail, not just warn, when a result is better than its baseline beyond tolerance "
        f"(a stale baseline) (ini: {INI_STRICT_BASELINES}). Default: warn.",
    )
    group.addoption(
        DRAWS,
        metavar="K",
        type=positive_int,
        dest="compress_draws",
        default=None,
        help=f"with {UPDATE}: record each case over K independently trained references (K-1 extra "
        f"trainings per model) so other machines are judged against the measured spread; 1 records "
        f"no spread (ini: {INI_DRAWS}). Default: {DEFAULT_DRAWS}.",
    )
    group.addoption(
        MEMORY,
        action="store_true",
        dest="compress_memory",
        default=None,
        help="measure each model's peak inference memory (a forked child's resident peak on CPU, "
        "CUDA max allocated on GPU) for every case; a max_peak_memory_bytes limit turns it on for "
        f"its case (ini: {INI_MEMORY}). Default: off.",
    )
    parser.addini(INI_BASELINE_DIR, "pytest-compress: baseline directory", default="baselines")
    parser.addini(INI_CACHE_DIR, "pytest-compress: trained-weights cache directory", default=".compress-cache")
    parser.addini(
        INI_THREADS, "pytest-compress: torch threads for training, compression, evaluation and timing", default="1"
    )
    parser.addini(INI_DEVICE, "pytest-compress: device (cpu, cuda, cuda:N)", default="cpu")
    parser.addini(INI_LATENCY_BUDGET, "pytest-compress: seconds of interleaved timing per case", default="3")
    parser.addini(INI_GATE_MODE, "pytest-compress: lenient or strict", default="lenient")
    parser.addini(INI_CONFIDENCE, "pytest-compress: confidence of gate intervals", default="0.99")
    parser.addini(INI_STRICT_BASELINES, "pytest-compress: fail on stale baselines", type="bool", default=False)
    parser.addini(INI_MEMORY, "pytest-compress: measure peak inference memory", type="bool", default=False)
    parser.addini(INI_DRAWS, "pytest-compress: draws per case when updating baselines", default=str(DEFAULT_DRAWS))
    for name in Thresholds.names():
        parser.addini(INI_THRESHOLD_PREFIX + name, f"pytest-compress: default {name} for every case", default=None)


@dataclass(frozen=True)
class Settings:
    reports: tuple[ReportTarget, ...]
    update: bool
    baseline_dir: Path
    cache_dir: Path
    threads: int
    device: str
    latency_budget_s: float
    draws: int = DEFAULT_DRAWS
    plots_dir: Path | None = None  # --compress-plots
    thresholds: Thresholds = field(default_factory=Thresholds)
    policy: Policy = field(default_factory=Policy)
    memory: bool = False  # --compress-memory
    # --compress-update-latency (and not --compress-update-baselines, which records latency too)
    update_latency: bool = False


def _ini(config: pytest.Config, name: str, parse: Any) -> Any:
    raw = config.getini(name)
    try:
        return parse(str(raw))
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise pytest.UsageError(f"ini key {name} = {raw!r}: {exc}") from None


def read_settings(config: pytest.Config) -> Settings:
    opt = config.option
    root = config.rootpath
    threshold_values: dict[str, Any] = {}
    for name in Thresholds.names():
        raw = config.getini(INI_THRESHOLD_PREFIX + name)
        if raw not in (None, ""):
            threshold_values[name] = _ini(config, INI_THRESHOLD_PREFIX + name, float)
    try:
        thresholds = Thresholds(**threshold_values)
    except ValueError as exc:
        raise pytest.UsageError(f"ini threshold: {exc}") from None
    return Settings(
        reports=tuple(opt.compress_report or ()),
        update=bool(opt.compress_update),
        baseline_dir=root / (opt.compress_baseline_dir or config.getini(INI_BASELINE_DIR)),
        cache_dir=root / (opt.compress_cache_dir or config.getini(INI_CACHE_DIR)),
        threads=opt.compress_threads or _ini(config, INI_THREADS, positive_int),
        device=opt.compress_device or _ini(config, INI_DEVICE, device_name),
        latency_budget_s=opt.compress_latency_budget or _ini(config, INI_LATENCY_BUDGET, positive_float),
        draws=opt.compress_draws or _ini(config, INI_DRAWS, positive_int),
        # Like report paths: relative to where pytest was started.
        plots_dir=config.invocation_params.dir / opt.compress_plots if opt.compress_plots else None,
        thresholds=thresholds,
        policy=Policy(
            mode=opt.compress_gate_mode or _ini(config, INI_GATE_MODE, gate_mode),
            confidence=opt.compress_confidence or _ini(config, INI_CONFIDENCE, confidence),
            strict_baselines=bool(opt.compress_strict_baselines or config.getini(INI_STRICT_BASELINES)),
        ),
        memory=bool(opt.compress_memory or config.getini(INI_MEMORY)),
        update_latency=bool(opt.compress_update_latency) and not opt.compress_update,
    )
