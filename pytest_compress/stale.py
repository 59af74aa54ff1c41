"""Baseline entries whose tests no longer exist, found only where the run can know it.

An entry is stale when its test module was collected *in full* — every test of the file, nothing
deselected (``-k``, ``-m``, ``--deselect``, ``--lf``), not named as ``file.py::test``, no
collection error or module-level skip — and its test id is not among the ids collected. A test
that merely did not run (deselected, in a file this run did not collect) is never stale: only a
full collection of its module proves it is gone. A module with no collected test is not judged
either (``--lf`` skips whole files by collecting them empty).

The run reports stale entries; ``--compress-update-baselines`` removes them in the same locked,
atomic flush that writes the new entries (``BaselineStore.flush(prune=...)``). With
``--collect-only`` that is a prune on its own: nothing runs, nothing else is written. Under
pytest-xdist the controller collects nothing itself: each worker collects every test (and applies
the same deselection), and hands its ``Collection`` to the controller through
``config.workeroutput`` (``to_dict`` / ``merge``), so ``-n 2`` judges exactly what ``-n 0`` does.
Nothing is judged without a worker's collection (never a false removal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_compress import baseline_schema as schema
from pytest_compress.baselines import BaselineStore, split_nodeid


@dataclass
class Collection:
    """What this run collected, by test module (``split_nodeid``'s module key)."""

    ids: dict[str, set[str]] = field(default_factory=dict)  # module -> collected test ids
    partial: set[str] = field(default_factory=set)  # modules collected or selected only in part

    def deselected(self, nodeids: Iterable[str]) -> None:
        self.partial.update(split_nodeid(n)[0] for n in nodeids)

    def collect_report(self, nodeid: str, outcome: str) -> None:
        """A collector that failed or skipped leaves its module incomplete."""
        if outcome != "passed" and nodeid:
            self.partial.add(split_nodeid(nodeid)[0])

    def finish(self, nodeids: Iterable[str], args: Iterable[str], invocation_dir: Path, rootpath: Path) -> None:
        for nodeid in nodeids:
            self.ids.setdefault(split_nodeid(nodeid)[0], set()).add(nodeid)
        for arg in args:
            path, sep, _ = arg.partition("::")
            if not sep:
                continue
            try:  # file.py::test selects part of file.py
                rel = (invocation_dir / path).resolve().relative_to(rootpath.resolve())
            except (OSError, ValueError):
                continue
            self.partial.add(split_nodeid(rel.as_posix())[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, as an xdist worker sends them to the controller."""
        return {"ids": {m: sorted(ids) for m, ids in sorted(self.ids.items())}, "partial": sorted(self.partial)}

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add what another process collected (an xdist worker's ``to_dict``)."""
        for module, ids in data.get("ids", {}).items():
            self.ids.setdefault(module, set()).update(ids)
        self.partial.update(data.get("partial", ()))

    def complete(self) -> dict[str, set[str]]:
        """The modules collected in full, with their test ids."""
        return {m: ids for m, ids in self.ids.items() if ids and m not in self.partial}


def stale_entries(store: BaselineStore, modules: Mapping[str, set[str]]) -> dict[Path, list[str]]:
    """Entries of ``modules`` (collected in full) whose test ids were not collected, by file:
    the modules' quality files and every machine's latency file. Unreadable files are skipped
    (the tests reading them report why); malformed entries count as entries."""
    out: dict[Path, list[str]] = {}
    latency_dir = store.root / "latency"
    files = [(store.root / f"{module}.json", schema.QUALITY) for module in sorted(modules)]
    files += [(p, schema.LATENCY) for p in (sorted(latency_dir.glob("*.json")) if latency_dir.is_dir() else ())]
    for path, kind in files:
        # Keys are node ids in both kinds of file (a quality file's older keys renamed on read).
        stale = [k for k in store.entry_keys(path, kind) if k not in modules.get(split_nodeid(k)[0], {k})]
        if stale:
            out[path] = stale
    return out


def report_lines(stale: Mapping[Path, list[str]], display: Any, removed: bool) -> list[str]:
    """One line per file: which entries, and what happened to them."""
    what = "removed" if removed else "remove them with --compress-update-baselines"
    return [
        f"stale baseline entries in {display(path)} (their tests no longer exist): {', '.join(keys)}; {what}"
        for path, keys in sorted(stale.items())
    ]
