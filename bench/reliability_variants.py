"""The damage ``bench/reliability.py`` does: malformed baseline files and tampered cache entries.

Every variant here is *invalid* — a correct plugin must refuse it with a message naming the file
(baselines) or rebuild it (cache). Values a schema cannot judge (an accuracy of 0.3 where 0.9 was
recorded) are not here: those are value-gate questions, not malformed input.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# What replaces a number: each is invalid for every numeric field a baseline holds.
BAD_NUMBERS: dict[str, str] = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e400": "1e400",
    "5000-digit int": "9" * 5000,
    "string": '"12"',
    "true": "true",
    "null": "null",
    "list": "[1]",
    "object": "{}",
}
# Invalid only where the number must be positive (sizes, times, speedups).
BAD_POSITIVE: dict[str, str] = {"0": "0", "-1": "-1", "1e-300": "1e-300"}

Writer = Callable[[Path], None]
# Fields a valid entry may lack: the method's config (compared as a configuration, not a number), the spread (entries
# written before spreads existed are compared with fixed tolerances, with a note) and the pair count.
OPTIONAL = {"method_config", "spread", "pairs"}


def _set(doc: Any, path: tuple[Any, ...], token: str) -> str:
    """JSON text of ``doc`` with the value at ``path`` replaced by the raw ``token``."""
    marker = "__BENCH_TOKEN__"
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(doc, indent=2).replace(f'"{marker}"', token)


def _delete(doc: Any, path: tuple[Any, ...]) -> str:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return json.dumps(doc, indent=2)


def _numeric_paths(entry: Any, prefix: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], bool]]:
    """(path, must be positive) for every number in an entry (first element of lists only)."""
    if isinstance(entry, dict):
        for k, v in entry.items():
            yield from _numeric_paths(v, (*prefix, k))
    elif isinstance(entry, list) and entry:
        yield from _numeric_paths(entry[0], (*prefix, 0))
    elif isinstance(entry, (int, float)) and not isinstance(entry, bool):
        name = str(prefix[-2] if isinstance(prefix[-1], int) else prefix[-1])
        positive = any(w in name for w in ("bytes", "_ms", "speedup", "pairs", "draws", "params", "examples"))
        yield prefix, positive


def _text(text: str) -> Writer:
    return lambda p: p.write_text(text, encoding="utf-8")


def _bytes(data: bytes) -> Writer:
    return lambda p: p.write_bytes(data)


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _directory(p: Path) -> None:
    p.mkdir()


def _dangling(p: Path) -> None:
    p.symlink_to(p.parent / "does-not-exist.json")


def _loop(p: Path) -> None:
    p.symlink_to(p)


def file_variants(doc: dict[str, Any]) -> dict[str, Writer]:
    """Damage to a whole baseline file (quality or latency)."""
    text = json.dumps(doc, indent=2)
    first = next(iter(doc["cases"]))
    entries = ", ".join(json.dumps({k: v})[1:-1] for k, v in doc["cases"].items())
    rest = {k: v for k, v in doc.items() if k != "cases"}
    again = json.dumps({first: doc["cases"][first]})[1:-1]
    dup_entries = json.dumps(rest)[:-1] + ', "cases": {' + entries + ", " + again + "}}"
    return {
        "empty file": _text(""),
        "truncated JSON": _text(text[: len(text) // 2]),
        "binary garbage": _bytes(bytes(range(256)) * 4),
        "UTF-16": _bytes(text.encode("utf-16")),
        "top level null": _text("null"),
        "top level list": _text("[]"),
        "schema missing": _text(_delete(doc, ("schema",))),
        "schema 99": _text(_set(doc, ("schema",), "99")),
        'schema "3" (string)': _text(_set(doc, ("schema",), f'"{doc["schema"]}"')),
        "cases null": _text(_set(doc, ("cases",), "null")),
        "cases a list": _text(_set(doc, ("cases",), "[]")),
        'duplicate "cases" key': _text(text[:-1].rstrip() + ', "cases": {}\n}'),
        "duplicate entry key": _text(dup_entries),
        "deeply nested": _text("[" * 200_000 + "]" * 200_000),
        "FIFO": _fifo,
        "directory": _directory,
        "dangling symlink": _dangling,
        "symlink loop": _loop,
    }


def entry_variants(doc: dict[str, Any], nodeid: str) -> dict[str, Writer]:
    """Damage to one entry: its type, each required field missing, each number made invalid."""
    entry = doc["cases"][nodeid]
    out: dict[str, Writer] = {
        "entry null": _text(_set(doc, ("cases", nodeid), "null")),
        "entry a list": _text(_set(doc, ("cases", nodeid), "[]")),
        "entry a string": _text(_set(doc, ("cases", nodeid), '"x"')),
    }
    for key in entry:
        if key in OPTIONAL:  # absent in valid entries too (older files, informational fields)
            continue
        if isinstance(entry[key], (dict, int, float)) and not isinstance(entry[key], bool):
            out[f"{key} missing"] = _text(_delete(doc, ("cases", nodeid, key)))
    for path, positive in _numeric_paths(entry, ("cases", nodeid)):
        if path[2] == "method_config":  # the user's config: compared as a configuration, not a measurement
            continue
        field = ".".join(str(k) for k in path[2:])
        bad = {**BAD_NUMBERS, **(BAD_POSITIVE if positive else {})}
        if isinstance(path[-1], int):  # one element of a recorded list: the classes, not every value
            bad = {k: bad[k] for k in ("NaN", "-Infinity", "string", "null", *(("0",) if positive else ()))}
        for label, token in bad.items():
            out[f"{field} = {label}"] = _text(_set(doc, path, token))
    return out


def cache_variants(tensors: dict[str, Any], metadata: dict[str, str]) -> dict[str, Writer]:
    """Damage to a safetensors cache entry. Tensor edits recompute the digest, so only a check that
    the tensors fit the model can catch them."""
    import torch
    from safetensors.torch import save

    from pytest_compress.cache import tensor_digest

    def resaved(edit: Callable[[dict[str, Any]], None]) -> Writer:
        t = {k: v.clone() for k, v in tensors.items()}
        edit(t)
        payload = save(t, metadata={**metadata, "digest": tensor_digest(t)})
        return _bytes(payload)

    first = next(iter(tensors))
    original = save(tensors, metadata=metadata)
    return {
        "tensor dropped": resaved(lambda t: t.pop(first)),
        "extra tensor": resaved(lambda t: t.__setitem__("extra.weight", torch.zeros(3))),
        "tensor reshaped": resaved(lambda t: t.__setitem__(first, t[first].reshape(-1)[:-1].clone())),
        "tensor dtype changed": resaved(lambda t: t.__setitem__(first, t[first].double())),
        "digest wrong": _bytes(save(tensors, metadata={**metadata, "digest": "0" * 64})),
        "truncated": _bytes(original[: len(original) // 2]),
        "empty": _bytes(b""),
        "garbage": _bytes(os.urandom(4096)),
        "FIFO": _fifo,
        "directory": _directory,
        "dangling symlink": _dangling,
        "symlink loop": _loop,
    }
