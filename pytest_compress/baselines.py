"""Baseline storage: deterministic JSON under ``baselines/``, one file per test module.

Both kinds of file key an entry by the test's node id (``suites/test_x.py::test_a[p]``), so one
id finds a test in either. Quality files written before that keyed entries by the in-module name
(``test_a[p]``); such keys are renamed on every read (the file's path says the module) and the
next update writes them back under the node id, so an older file loads, and compares, unchanged.

Machine-independent numbers (size, metric) live in ``<baseline-dir>/<module path>.json``;
machine-dependent ones (latency ratios) in ``<baseline-dir>/latency/<fingerprint>.json`` so a
new machine never compares its timings with another machine's. Every read is checked against one
schema (``baseline_schema``). Updates are staged during the run (each entry checked the same way)
and written once, atomically, at the end of the session, under a lock per file.

An update never loses data: it re-reads every file it merges into while holding that file's lock
(a concurrent updater's entries are kept), and a file it cannot read stops the whole update before
anything is written. A quality entry names the latency file written with it, and a latency entry
records the digest of the artifact it timed, so a flush cut short between the two files (kill -9)
is detected on the next read instead of timing a new artifact against an old one's band. (No run
ids or times: a refresh that measured the same thing rewrites a quality file byte for byte, so
code review sees only what changed.)
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_compress import atomic
from pytest_compress import baseline_schema as schema
from pytest_compress.baseline_entries import DIGITS, LatencyBaseline, QualityBaseline, latency_entry
from pytest_compress.baseline_schema import SCHEMA_VERSION, BaselineFileError, BaselineValueError
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.results import CaseResult
from pytest_compress.spread import SpreadError, accumulate
from pytest_compress.thresholds import Thresholds

__all__ = [
    "DIGITS",
    "SCHEMA_VERSION",
    "BaselineFileError",
    "BaselineStore",
    "BaselineValueError",
    "LatencyBaseline",
    "QualityBaseline",
    "lock_path",
    "split_nodeid",
]

LOCK_TIMEOUT_S = 120.0  # another updater holds a file's lock only while it merges and writes it
FIX_UPDATE = (
    "the baseline update stopped and left every file as it was, so that no entry is lost: "
    "delete it or restore it from version control, then rerun with --compress-update-baselines"
)


def lock_path(path: Path) -> Path:
    """The lock file next to a baseline file (``.<name>.lock``, ignored by git)."""
    return path.with_name(f".{path.name}.lock")


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """``suites/test_x.py::test_a[p]`` -> (``suites/test_x``, ``test_a[p]``)."""
    module, _, name = nodeid.partition("::")
    if module.endswith(".py"):
        module = module[:-3]
    return module, name or module


@dataclass
class BaselineStore:
    root: Path
    _cache: dict[Path, schema.Checked] = field(default_factory=dict)
    _staged_quality: dict[Path, dict[str, Any]] = field(default_factory=dict)
    _staged_latency: dict[Path, tuple[Fingerprint, dict[str, Any]]] = field(default_factory=dict)
    # How a refresh's latency runs merge with the recorded ones (``spread.accumulate``).
    confidence: float = 0.99
    latency_tolerance: float = Thresholds().latency_tolerance

    def quality_path(self, nodeid: str) -> Path:
        return self.root / (split_nodeid(nodeid)[0] + ".json")

    def latency_path(self, fingerprint: Fingerprint) -> Path:
        return self.root / "latency" / f"{fingerprint.slug}.json"

    # -- reading ---------------------------------------------------------------------------------

    def quality(self, nodeid: str) -> QualityBaseline | None:
        path, name = self.quality_path(nodeid), nodeid
        entry = self._entry(path, name, schema.QUALITY)
        if entry is None:
            return None
        try:
            return QualityBaseline.from_json(entry)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # the schema check should catch all
            raise schema.entry_error(path, name, f"is malformed ({exc})") from None

    def latency(self, nodeid: str, fingerprint: Fingerprint) -> LatencyBaseline | None:
        path = self.latency_path(fingerprint)
        entry = self._entry(path, nodeid, schema.LATENCY)
        if entry is None:
            return None
        try:
            base = LatencyBaseline(
                speedup=float(entry["speedup"]),
                reference_ms=float(entry["reference_ms"]),
                compressed_ms=float(entry["compressed_ms"]),
                speedups=tuple(float(v) for v in entry.get("speedups", ())),
                peak_memory_bytes=int(entry["peak_memory"]["compressed_bytes"]) if "peak_memory" in entry else None,
                peak_memory_kind=str(entry["peak_memory"]["compressed_kind"]) if "peak_memory" in entry else "",
                estimator=str(entry.get("estimator", "")),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # the schema check should catch all
            raise schema.entry_error(path, nodeid, f"is malformed ({exc})") from None
        self._check_same_update(nodeid, fingerprint, entry.get("artifact_sha256"))
        return base

    def _check_same_update(self, nodeid: str, fingerprint: Fingerprint, timed: Any) -> None:
        """A quality entry written with this machine's latency entry must describe the artifact
        that latency entry timed."""
        described = self._described_here(nodeid, fingerprint)
        if timed and described and timed != described:
            raise BaselineFileError(
                f"{self.latency_path(fingerprint)}: entry {nodeid!r} timed artifact {str(timed)[:12]} but its "
                f"quality entry in {self.quality_path(nodeid)} describes artifact {str(described)[:12]}: an update "
                "was cut short between the two files, so they do not belong together; re-create both with "
                "--compress-update-baselines"
            )

    def _described_here(self, nodeid: str, fingerprint: Fingerprint) -> Any:
        """The artifact digest of ``nodeid``'s quality entry if it was written with this machine's
        latency entry (else None: another machine's artifact may differ, retrained weights)."""
        try:
            quality = self._entry(self.quality_path(nodeid), nodeid, schema.QUALITY)
        except BaselineFileError:
            return None  # quality() reports that file's own problem
        if not quality or quality.get("latency_file") != fingerprint.slug:
            return None
        return quality.get("size", {}).get("artifact_sha256")

    def _entry(self, path: Path, name: str, kind: str) -> dict[str, Any] | None:
        """The valid entry ``name`` of ``path``; None when absent; an error when malformed (null too)."""
        checked = self._read(path, kind)
        if name in checked.errors:
            raise schema.entry_error(path, name, checked.errors[name])
        return checked.cases.get(name)

    def _read(self, path: Path, kind: str) -> schema.Checked:
        if path not in self._cache:
            self._cache[path] = self._checked(path, kind) or schema.Checked(cases={}, errors={})
        return self._cache[path]

    # -- writing (staged, flushed once) -----------------------------------------------------------

    def check(
        self, result: CaseResult, nodeid: str, fingerprint: Fingerprint | None, latency_only: bool = False
    ) -> None:
        """Raise ``BaselineValueError`` (naming the test id and field) unless ``result`` can be
        recorded: a non-finite metric, drop, size or speedup never reaches a baseline file; with
        ``latency_only``, neither does the timing of an artifact other than the one this machine's
        quality entry describes (``_check_same_update`` would refuse the pair on the next read)."""
        self._entries(result, nodeid, fingerprint)
        if latency_only:
            self._check_latency_only(result, nodeid, fingerprint)

    def _check_latency_only(self, result: CaseResult, nodeid: str, fingerprint: Fingerprint | None) -> None:
        described = None if fingerprint is None else self._described_here(nodeid, fingerprint)
        if described and result.artifact_sha256 and described != result.artifact_sha256:
            raise BaselineFileError(
                f"{nodeid}: latency not recorded in {self.latency_path(fingerprint)}: this run compressed artifact "
                f"{result.artifact_sha256[:12]}, but the quality entry in {self.quality_path(nodeid)}, recorded on "
                f"this machine, describes artifact {str(described)[:12]}; a latency-only refresh times only what "
                "the quality baselines describe. Fix what changed the artifact, or re-create both with "
                "--compress-update-baselines"
            )

    def stage(
        self, result: CaseResult, nodeid: str, fingerprint: Fingerprint | None, latency_only: bool = False
    ) -> None:
        """Stage ``result`` for the next flush (only its latency entry with ``latency_only``); a
        result ``check`` refuses stages nothing."""
        quality, latency = self._entries(result, nodeid, fingerprint)
        if latency_only:
            self._check_latency_only(result, nodeid, fingerprint)
        else:
            self._staged_quality.setdefault(self.quality_path(nodeid), {})[nodeid] = quality
        if latency is not None and fingerprint is not None:
            lpath = self.latency_path(fingerprint)
            self._staged_latency.setdefault(lpath, (fingerprint, {}))[1][nodeid] = latency

    def _entries(
        self, result: CaseResult, nodeid: str, fingerprint: Fingerprint | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        try:
            quality = QualityBaseline.from_result(result).to_json(result)
        except (SpreadError, ValueError, OverflowError) as exc:
            # Name a bad primary field if there is one, else the draw that is bad.
            schema.check_new_entry(QualityBaseline.from_result(result, False).to_json(result), schema.QUALITY, nodeid)
            raise schema.new_value_error(nodeid, f"one of its draws holds a bad value ({exc})") from None
        latency = None
        if result.latency is not None and fingerprint is not None:
            latency = latency_entry(result)
            quality["latency_file"] = fingerprint.slug  # written with it: see _check_same_update
        schema.check_new_entry(quality, schema.QUALITY, nodeid)
        if latency is not None:
            schema.check_new_entry(latency, schema.LATENCY, nodeid)
        return quality, latency

    def flush(self, prune: Mapping[Path, Collection[str]] | None = None) -> list[Path]:
        """Merge staged entries into the files on disk; other entries are kept as they were,
        except the entries ``prune`` names by file (stale ones: ``stale.stale_entries``), which
        are removed unless this update re-creates them.

        Every file is locked, re-read and checked before any is written, so a concurrent update's
        entries are merged, not overwritten, and a file that cannot be read stops the update with
        a ``BaselineFileError`` while every file stays as it was. Quality files are written before
        latency files: a flush cut short in between leaves quality entries describing an artifact
        their latency entries did not time, which ``latency()`` reports.
        """
        drop = {path: set(keys) for path, keys in (prune or {}).items() if keys}
        if not self._staged_quality and not self._staged_latency and not drop:
            return []
        latency_dir = self.root / "latency"
        quality = {p: {} for p in drop if p.parent != latency_dir} | self._staged_quality
        latency = {p: (None, {}) for p in drop if p.parent == latency_dir} | self._staged_latency
        with self._locked(sorted({*quality, *latency})):
            plan: list[tuple[Path, dict[str, Any]]] = []
            for path, staged in sorted(quality.items()):
                gone = drop.get(path, set()) - set(staged)
                cases = self._cases_for_update(path, schema.QUALITY, {**staged, **dict.fromkeys(gone)})
                cases = {k: v for k, v in cases.items() if k not in gone} | staged
                if not staged and not path.exists():
                    continue  # only pruning, and the file is gone: nothing to remove
                plan.append((path, {"schema": SCHEMA_VERSION, "cases": cases}))
            for path, (fingerprint, staged) in sorted(latency.items()):
                gone = drop.get(path, set()) - set(staged)
                cases = self._cases_for_update(path, schema.LATENCY, {**staged, **dict.fromkeys(gone)})
                cases = {k: v for k, v in cases.items() if k not in gone}
                for nodeid, entry in staged.items():
                    cases[nodeid] = self._merged_latency(cases.get(nodeid), entry)
                if fingerprint is None and not path.exists():
                    continue  # only pruning, and the file is gone: nothing to remove
                recorded = fingerprint.to_dict() if fingerprint is not None else self._fingerprint_on_disk(path)
                doc = {"schema": SCHEMA_VERSION, "cases": cases} | ({"fingerprint": recorded} if recorded else {})
                plan.append((path, doc))
            texts = [(path, atomic.dumps_json(doc)) for path, doc in plan]  # all serialised before any write
            done: list[Path] = []
            for path, text in texts:
                try:
                    atomic.write_text(path, text)
                except OSError as exc:
                    raise BaselineFileError(
                        f"{path}: cannot be written ({exc}); written before it in this update: "
                        f"{', '.join(map(str, done)) or 'nothing'} — fix the cause and rerun with "
                        "--compress-update-baselines"
                    ) from None
                done.append(path)
        self._staged_quality.clear()
        self._staged_latency.clear()
        self._cache.clear()
        return done

    def _fingerprint_on_disk(self, path: Path) -> dict[str, Any] | None:
        """The machine a latency file records (read under its lock, after ``_cases_for_update``
        checked the file); None when it records none."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BaselineFileError(f"{path}: not a readable baseline file ({exc}); {FIX_UPDATE}") from None
        fingerprint = doc.get("fingerprint") if isinstance(doc, dict) else None
        return fingerprint if isinstance(fingerprint, dict) else None

    @contextlib.contextmanager
    def _locked(self, paths: list[Path]) -> Iterator[None]:
        """Hold the lock of every file in ``paths`` (taken in sorted order: two updaters never deadlock)."""
        from filelock import FileLock, Timeout  # only when writing: it imports asyncio (pytest --help time)

        with contextlib.ExitStack() as stack:
            for path in paths:
                lock = lock_path(path)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    stack.enter_context(FileLock(lock, timeout=LOCK_TIMEOUT_S))
                except Timeout:
                    raise BaselineFileError(
                        f"{path}: another baseline update held {lock} for over {LOCK_TIMEOUT_S:.0f} s; "
                        "nothing was written — let it finish, then rerun with --compress-update-baselines"
                    ) from None
                except OSError as exc:
                    raise BaselineFileError(
                        f"{path}: cannot be locked for the update ({exc}); nothing was written — fix the cause "
                        "and rerun with --compress-update-baselines"
                    ) from None
            yield

    def _cases_for_update(self, path: Path, kind: str, replacing: dict[str, Any]) -> dict[str, Any]:
        """The valid entries on disk now (called under the file's lock); refuses, before anything is
        written, a file it cannot read or a malformed entry this update would not replace."""
        self._cache.pop(path, None)
        checked = self._checked(path, kind, fix=FIX_UPDATE)
        if checked is None:
            return {}
        for name, problem in sorted(checked.errors.items()):
            if name not in replacing:
                raise schema.entry_error(
                    path,
                    name,
                    problem,
                    "the baseline update stopped and left every file as it was: fix or delete that entry, "
                    "or include its test in this update run to re-create it",
                )
        return dict(checked.cases)

    def entry_keys(self, path: Path, kind: str) -> list[str]:
        """Every entry key of ``path``, malformed entries' too; none when it is absent or unreadable
        (the tests reading it report why)."""
        try:
            checked = self._checked(path, kind)
        except BaselineFileError:
            return []
        return [] if checked is None else sorted({*checked.cases, *checked.errors})

    def _checked(self, path: Path, kind: str, fix: str = schema.FIX_FILE) -> schema.Checked | None:
        """``schema.read``, with a quality file's in-module keys renamed to node ids."""
        checked = schema.read(path, kind, fix=fix)
        if checked is None or kind != schema.QUALITY:
            return checked
        try:
            module = path.relative_to(self.root).with_suffix("").as_posix()
        except ValueError:
            return checked

        def nodeid(key: str) -> str:  # "TestC::test_a" is an in-module key too: its module differs
            return key if split_nodeid(key)[0] == module else f"{module}.py::{key}"

        # Keys already node ids go last: they win over an older key of the same test.
        order = sorted({*checked.cases, *checked.errors}, key=lambda k: nodeid(k) == k)
        cases: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key in order:
            new = nodeid(key)
            cases.pop(new, None)
            errors.pop(new, None)
            if key in checked.errors:
                errors[new] = checked.errors[key]
            else:
                cases[new] = checked.cases[key]
        return schema.Checked(cases=cases, errors=errors)

    def _merged_latency(self, old: Any, new: dict[str, Any]) -> dict[str, Any]:
        runs = new.get("speedups") or [new["speedup"]]
        recorded = old.get("speedups", [old.get("speedup")]) if isinstance(old, dict) else None
        if isinstance(old, dict) and old.get("estimator") != new.get("estimator"):
            recorded = None  # timed another way: not comparable, so replaced, never mixed
        if isinstance(recorded, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in recorded
        ):
            runs = list(accumulate(recorded, runs, self.confidence, self.latency_tolerance))
        return {**new, "speedups": runs} if len(runs) > 1 else new
