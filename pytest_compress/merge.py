"""Merge CI shards' JSON reports into one report and one baseline update.

CI spreads a suite over runners (pytest-split, or ``-k`` / path partitions, one per job). Each
job writes ``--compress-report=json:shard-N.json``; one more job runs::

    python -m pytest_compress merge shard-*.json --compress-report=md:reports/compress.md \\
        --compress-report=json:reports/compress.json [--update-baselines --baseline-dir baselines]

The merged report lists every shard's rows in the order one run would, the JSON rows exactly as
the shards wrote them (plugins' ``pytest_compress_json_row`` amendments included); the header is
recomputed over all results. The baseline update stages the full results every JSON report
carries (``results``) and flushes them as a run does (``BaselineStore``: locked, atomic): size and
metric into the test module's file, latency into the file of the machine each case was *timed*
on (its fingerprint), so a shard run on another kind of runner lands in that machine's file.

Refused, naming the file: not a JSON report, another report or result schema (another version of
the plugin wrote it), a result that does not match its row, one test in two shards with different
results (the very same result twice, a re-uploaded shard, is kept once) and, with
``--update-baselines``, a shard not run with ``--compress-update-baselines`` (its results were
gated against the old baselines and recorded no draws).

Not done here: stale entries (of tests that no longer exist) are kept, since a shard sees only its
part of the suite; ``pytest --collect-only --compress-update-baselines`` over the suite prunes them.
Torch-free, like reporting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_compress import atomic
from pytest_compress.baselines import BaselineFileError, BaselineStore
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.options import ReportTarget, parse_report
from pytest_compress.report.render import JSON_SCHEMA, decode_floats, terminal_lines
from pytest_compress.report.rows import Row, build_row, row_order
from pytest_compress.report.writers import REPORTERS, TERM
from pytest_compress.results import SCHEMA_VERSION, WRITTEN, CaseResult
from pytest_compress.session import header_lines, recordable
from pytest_compress.thresholds import Policy, Thresholds


class ShardError(ValueError):
    """A shard that cannot be merged; the message names the file and the field."""


@dataclass(frozen=True)
class Entry:
    result: CaseResult
    row: dict[str, Any]  # the JSON row as the shard wrote it
    raw: dict[str, Any]  # the result as the shard wrote it (duplicates compare this)
    source: Path


def read_shard(path: Path) -> list[Entry]:
    """The entries of one shard's JSON report (``--compress-report=json:PATH``)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShardError(f"{path}: cannot be read ({exc})") from None
    except ValueError as exc:
        raise ShardError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ShardError(
            f"{path}: not a pytest-compress JSON report (no list 'rows'); write one per shard with "
            "--compress-report=json:PATH"
        )
    if doc.get("schema") != JSON_SCHEMA:
        raise ShardError(
            f"{path}: field 'schema' is {doc.get('schema')!r}, this pytest-compress merges JSON reports of schema "
            f"{JSON_SCHEMA}: another version of the plugin wrote it; run every shard with this version"
        )
    rows, results = doc["rows"], doc.get("results")
    if not isinstance(results, list) or len(results) != len(rows):
        got = f"{len(results)} results" if isinstance(results, list) else f"{type(results).__name__}"
        raise ShardError(f"{path}: field 'results' must hold one result per row ({len(rows)} rows, got {got})")
    entries = []
    for i, (row, raw) in enumerate(zip(rows, results, strict=True)):
        where = f"{path}: results[{i}]"
        if not isinstance(raw, dict):
            raise ShardError(f"{where}: expected the result of rows[{i}], got {type(raw).__name__}")
        if raw.get("schema") != SCHEMA_VERSION:
            raise ShardError(
                f"{where}: field 'schema' is {raw.get('schema')!r}, this pytest-compress reads results of schema "
                f"{SCHEMA_VERSION}: another version of the plugin wrote it; run every shard with this version"
            )
        try:
            result = CaseResult.from_dict(decode_floats(raw))
            if result.fingerprint:
                Fingerprint(**result.fingerprint)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ShardError(f"{where} ({raw.get('test_id')!r}) is malformed ({type(exc).__name__}: {exc})") from None
        if not isinstance(row, dict) or row.get("test_id") != result.test_id:
            got = row.get("test_id") if isinstance(row, dict) else row
            raise ShardError(f"{path}: rows[{i}] is test {got!r} but results[{i}] is test {result.test_id!r}")
        entries.append(Entry(result=result, row=row, raw=raw, source=path))
    return entries


def merge(paths: Sequence[Path]) -> list[Entry]:
    """Every shard's entries; one test in two shards must have the same result there (kept once)."""
    seen: dict[str, Entry] = {}
    out: list[Entry] = []
    for path in paths:
        for entry in read_shard(path):
            test_id = entry.result.test_id
            first = seen.setdefault(test_id, entry)
            if first.source != entry.source:  # within one shard, a rerun's rows stay as the run wrote them
                if first.raw != entry.raw:
                    raise ShardError(
                        f"{entry.source}: test {test_id!r} is also in {first.source}, with a different result: "
                        "shards must partition the suite (each test in one shard); rerun the shards or merge "
                        "only one of those files"
                    )
                continue
            out.append(entry)
    return out


def rows(entries: Sequence[Entry]) -> list[Row]:
    """The merged rows, in report order; each JSON row as its shard wrote it."""
    return sorted((dataclasses.replace(build_row(e.result), amended=e.row) for e in entries), key=row_order)


def header(entries: Sequence[Entry], update: bool) -> list[str]:
    """One run's header over all shards' results; threads and device as the cases were timed with."""
    fps = [e.result.fingerprint for e in entries if e.result.fingerprint]
    threads = ",".join(sorted({str(fp.get("threads")) for fp in fps})) or "-"
    device = ",".join(sorted({str(fp.get("device", "cpu")) for fp in fps})) or "-"
    return header_lines([e.result for e in entries], threads, device, update)


def update_baselines(entries: Sequence[Entry], store: BaselineStore) -> tuple[list[Path], list[str]]:
    """Stage every recordable result and flush once: (files written, errors)."""
    for e in entries:
        if e.result.verdict.baseline != WRITTEN:
            raise ShardError(
                f"{e.source}: test {e.result.test_id!r} was not run with --compress-update-baselines (verdict "
                f"baseline {e.result.verdict.baseline!r}): its result was gated against the old baselines and "
                "recorded no draws; rerun that shard with --compress-update-baselines"
            )
    errors = []
    for e in entries:
        if not recordable(e.result):
            continue  # failed as non-finite or unrecordable in its shard, as in one run
        fp = Fingerprint(**e.result.fingerprint) if e.result.fingerprint else None
        try:
            store.stage(e.result, e.result.test_id, fp)
        except BaselineFileError as exc:
            errors.append(f"baseline not recorded: {exc}")
    try:
        return store.flush(), errors
    except (BaselineFileError, OSError) as exc:
        return [], [*errors, f"baselines not written: {exc}"]


def write_reports(targets: Sequence[ReportTarget], merged: list[Row], lines: list[str]) -> list[Path]:
    written = []
    for target in targets:
        if target.path is None:
            continue
        try:
            text = REPORTERS.get(target.format)(merged, lines)
        except Exception as exc:  # a plugin's format: an error line, not a traceback
            raise OSError(f"report format {target.format!r} failed: {type(exc).__name__}: {exc}") from exc
        path = Path(target.path)
        atomic.write_text(path, text)
        written.append(path)
    return written


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pytest_compress merge",
        description="Merge the JSON reports of CI shards (--compress-report=json:PATH) into one report and, "
        "with --update-baselines, one baseline update.",
    )
    p.add_argument("shards", nargs="+", type=Path, metavar="SHARD.json", help="the shards' JSON reports")
    p.add_argument(
        "--compress-report",
        action="append",
        type=parse_report,
        default=[],
        metavar="FORMAT:PATH",
        help="write the merged report (json:PATH, md:PATH, html:PATH, benchmark-json:PATH, a plugin's "
        "FORMAT:PATH) or print it (term); may be given several times. Default: term.",
    )
    p.add_argument(
        "--update-baselines",
        action="store_true",
        help="write the shards' results into the baseline files (every shard must have run with "
        "--compress-update-baselines). Default: no baseline is written.",
    )
    p.add_argument(
        "--baseline-dir",
        type=Path,
        default=Path("baselines"),
        metavar="DIR",
        help="the baseline directory (the project's compress_baseline_dir). Default: baselines.",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=Policy().confidence,
        metavar="LEVEL",
        help="as the shards' compress_confidence: how recorded and new latency runs merge. "
        f"Default: {Policy().confidence}.",
    )
    p.add_argument(
        "--latency-tolerance",
        type=float,
        default=Thresholds().latency_tolerance,
        metavar="X",
        help="as the shards' compress_latency_tolerance: how recorded and new latency runs merge. "
        f"Default: {Thresholds().latency_tolerance}.",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 merged (whatever the verdicts: each shard's pytest gated its own cases), 1 a
    report or baseline could not be written, 2 a shard or an argument was refused."""
    args = parser().parse_args(argv)
    from pytest_compress import entrypoints

    entrypoints.load()  # installed packages' report formats
    targets = args.compress_report or [ReportTarget(TERM)]
    unknown = [t.format for t in targets if t.format not in REPORTERS]
    if unknown:
        print(f"error: unknown report format {unknown[0]!r}; formats: {', '.join(REPORTERS.names())}", file=sys.stderr)
        return 2
    try:
        entries = merge(args.shards)
        written, errors = [], []
        if args.update_baselines:
            store = BaselineStore(
                args.baseline_dir, confidence=args.confidence, latency_tolerance=args.latency_tolerance
            )
            written, errors = update_baselines(entries, store)
    except ShardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    merged, lines = rows(entries), header(entries, args.update_baselines)
    for path in written:
        print(f"[pytest-compress] baseline written: {path}")
    try:
        for path in write_reports(targets, merged, lines):
            print(f"[pytest-compress] report written: {path}")
    except OSError as exc:
        errors.append(f"report not written: {exc}")
    if any(t.format == TERM for t in targets):
        print("\n".join(terminal_lines(merged, lines)))
    failed = sum(1 for e in entries if e.result.verdict.status == "fail")
    print(f"[pytest-compress] merged {len(entries)} case(s) from {len(args.shards)} shard(s); {failed} failed")
    for line in errors:
        print(f"[pytest-compress] ERROR: {line}", file=sys.stderr)
    return 1 if errors else 0
