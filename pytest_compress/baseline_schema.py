"""The one schema of baseline files, checked on every read and on every entry before it is written.

Why: Python's JSON parser accepts what no baseline should hold — ``NaN``/``Infinity`` tokens,
``1e400`` (infinity), 5000-digit integers (failing later, deep in a gate), duplicate keys (the
last silently wins, even for ``"cases"``). A speedup of NaN, 0 or 1e-300 compares false against
every limit and so switches a gate off without a word. Each is refused here, naming the file,
the entry and the field, and saying what to do. Two levels: an unusable *file* (not a regular
file, not JSON, wrong top level, unknown schema version, a duplicate top-level key) fails every
read of it; a malformed *entry* (missing field, value out of range, ``null``) fails only its own
reads, so one bad entry fails its own test and not the whole module. Special files (FIFO,
directory, dangling symlink, symlink loop) are refused after an ``os.stat``, before any ``open``:
opening a FIFO for reading blocks until a writer appears.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_compress.spread import Spread, SpreadError

SCHEMA_VERSION = 1
QUALITY = "quality"
LATENCY = "latency"

MAX_INT_DIGITS = 18  # a size or a count; longer is not a size (and int(<4300+ digits>) raises)
MAX_BYTES = 2**53  # sizes stay exact as floats (the gates divide them)
SPEEDUP_RANGE = (1e-6, 1e6)  # a ratio of two timings; outside it the number is not a measurement
MAX_MAGNITUDE = 1e12  # metrics and timings: the gates subtract and divide them without overflow
MAX_DEPTH = 32  # a baseline file nests 4 deep; far deeper input is not one (and would recurse)

FIX_FILE = "restore it from version control or delete it and run with --compress-update-baselines"
FIX_ENTRY = "fix it or re-create it with --compress-update-baselines"


class BaselineFileError(Exception):
    """A baseline file that cannot be used; the message names the file and what to do."""


class BaselineValueError(BaselineFileError):
    """A result that cannot be recorded as a baseline (a non-finite or out-of-range value); the
    message names the test id and the field. Raised by ``BaselineStore.check`` / ``stage``."""


@dataclass(frozen=True)
class BadNumber:
    """A number token no baseline may hold (NaN, an infinity, an over-long integer), kept as
    parsed so the schema check can name the entry and field it sits in."""

    token: str

    def __str__(self) -> str:
        digits = self.token.lstrip("-")
        unit = "digit" if digits.isdigit() else "character"
        return self.token if len(self.token) <= 24 else f"a {len(digits)}-{unit} number"


class _Object(dict):
    """A JSON object that remembers the keys it held more than once."""

    duplicates: tuple[str, ...] = ()


class _Invalid(Exception):
    """One schema violation: ``field`` (dotted, within the entry or file) and what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        field = field if len(field) <= 60 else field[:57] + "..."
        super().__init__(f"{field or 'the entry'} {problem}")


@dataclass
class Checked:
    """A readable file: its valid entries, and what is wrong with each malformed one."""

    cases: dict[str, Any]
    errors: dict[str, str]  # entry name -> "is malformed: <field> <problem>" (see entry_error)


def entry_error(path: Path, name: str, problem: str, fix: str = FIX_ENTRY) -> BaselineFileError:
    return BaselineFileError(f"{path}: entry {name!r} {problem}; {fix}")


def check_new_entry(entry: Any, kind: str, nodeid: str) -> None:
    """Refuse an entry about to be staged with the same schema its file is read with."""
    try:
        _scan(entry, "", 1)
        check_entry(entry, kind)
    except (_Invalid, SpreadError) as exc:
        raise new_value_error(nodeid, f"its {kind} entry's {exc}") from None


def new_value_error(nodeid: str, problem: str) -> BaselineValueError:
    return BaselineValueError(
        f"{nodeid}: not recorded as a baseline: {problem}. A baseline holds only finite numbers, sizes > 0 "
        "and speedups in a sane range, so this result cannot be one: fix the model or method that produced it "
        "(the other cases' baselines are written as usual)"
    )


# -- reading ---------------------------------------------------------------------------------------


def read(path: Path, kind: str, fix: str = FIX_FILE) -> Checked | None:
    """The checked contents of ``path``; None when there is no file there at all. ``fix`` ends
    the message of a file-level error: what the user should do."""
    doc = _load(path, fix)
    return None if doc is _ABSENT else check_document(doc, path, kind, fix)


_ABSENT = object()  # no file at all (a file holding ``null`` is not absent: it is malformed)


def _load(path: Path, fix: str) -> Any:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return _ABSENT
    except OSError as exc:
        raise _file_error(path, fix=fix, what=f"cannot be inspected ({exc.strerror or exc})") from None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _file_error(path, fix=fix, what="is a dangling symlink (its target does not exist)") from None
    except OSError as exc:
        what = "is a symlink loop" if exc.errno == errno.ELOOP else f"cannot be inspected ({exc.strerror or exc})"
        raise _file_error(path, what, fix) from None
    if not stat.S_ISREG(st.st_mode):
        raise _file_error(path, fix=fix, what=f"is {_kind_of(st.st_mode)}, not a regular file")
    try:
        # O_NONBLOCK: should a FIFO replace the file after the stat above, open still returns.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise _file_error(path, fix=fix, what="is not a regular file")
            raw = fh.read()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _file_error(path, fix=fix, what=f"not a readable baseline file ({exc})") from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=BadNumber,
            parse_float=_float,
            parse_int=_int,
        )
    except RecursionError:
        raise _file_error(path, fix=fix, what="not a readable baseline file (nested too deeply)") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise _file_error(path, fix=fix, what=f"not a readable baseline file ({exc})") from None


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        obj.duplicates = tuple(sorted({k for k in keys if keys.count(k) > 1}))
    return obj


def _float(token: str) -> float | BadNumber:
    value = float(token)
    return value if math.isfinite(value) else BadNumber(token)


def _int(token: str) -> int | BadNumber:
    return BadNumber(token) if len(token.lstrip("-")) > MAX_INT_DIGITS else int(token)


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def _file_error(path: Path, what: str, fix: str = FIX_FILE) -> BaselineFileError:
    return BaselineFileError(f"{path}: {what}; {fix}")


# -- the schema ------------------------------------------------------------------------------------


def check_document(doc: Any, path: Path, kind: str, fix: str = FIX_FILE) -> Checked:
    expected = f'expected a JSON object with "schema": {SCHEMA_VERSION} and a "cases" object'
    if not isinstance(doc, dict):
        raise _file_error(path, fix=fix, what=f"{expected}, found {_type(doc)}")
    if dups := ", ".join(map(repr, getattr(doc, "duplicates", ()))):
        raise _file_error(path, fix=fix, what=f"{expected}; the top level holds {dups} more than once")
    schema = doc.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:
        found = "no schema" if "schema" not in doc else f"schema {_show(schema)}"
        raise _file_error(
            path, fix=fix, what=f"{expected}, found {found} (a file from another version of pytest-compress?)"
        )
    if not isinstance(doc.get("cases"), dict):
        raise _file_error(path, fix=fix, what=f'{expected}, found "cases": {_type(doc.get("cases"))}')
    try:
        for key, value in doc.items():
            if key != "cases":
                _scan(value, key, 1)
        if "fingerprint" in doc:
            _require(doc, "fingerprint", dict)
        if "run" in doc:
            run = _require(doc, "run", dict)
            for key in ("id", "time"):
                _require(run, key, str, "run")
    except _Invalid as exc:
        raise _file_error(path, fix=fix, what=f"bad top-level field: {exc}") from None
    cases: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in getattr(doc["cases"], "duplicates", ()):
        errors[name] = 'appears more than once in "cases"'
    for name, entry in doc["cases"].items():
        if name in errors:
            continue
        try:
            _scan(entry, "", 2)
            check_entry(entry, kind)
        except _Invalid as exc:
            errors[name] = f"is malformed: {exc}"
        except SpreadError as exc:
            errors[name] = f"has a bad spread ({exc})"
        else:
            cases[name] = entry
    return Checked(cases=cases, errors=errors)


def check_entry(entry: Any, kind: str) -> None:
    """Raise ``_Invalid`` (or ``SpreadError``) unless ``entry`` is a usable entry of ``kind``."""
    if not isinstance(entry, dict):
        raise _Invalid("", f"is {_type(entry)}, expected an object")
    if kind == QUALITY:
        _check_quality(entry)
    else:
        _check_latency(entry)
    for key in ("run", "latency_file", "artifact_sha256"):
        if key in entry:
            _require(entry, key, str)


def _check_quality(entry: dict[str, Any]) -> None:
    size = _require(entry, "size", dict)
    for key in ("reference_bytes", "compressed_bytes"):
        _integer(size, key, "size", low=1, high=MAX_BYTES)
    metric = _require(entry, "metric", dict)
    for key in ("name", "unit"):
        _require(metric, key, str, "metric")
    for key in ("reference", "compressed"):
        _number(metric, key, "metric")
    if "examples" in metric:
        _integer(metric, "examples", "metric", low=1, high=10**15)  # a metric of no examples is no metric
    for key in ("definition", "aggregate"):
        if key in metric:
            _require(metric, key, str, "metric")
    if "higher_is_better" in metric and type(metric["higher_is_better"]) is not bool:
        raise _Invalid("metric.higher_is_better", f"is {_show(metric['higher_is_better'])}, expected true or false")
    for key in ("encoding", "artifact_sha256"):
        if key in size:
            _require(size, key, str, "size")
    for key in ("reference_sha256", "eval_sha256", "kernels", "model", "method"):
        if key in entry:
            _require(entry, key, str)
    if entry.get("spread") is not None:
        spread = Spread.from_json(entry["spread"])
        for i, v in enumerate(spread.compressed_bytes):
            if type(v) is not int or not 1 <= v <= MAX_BYTES:
                raise _Invalid(f"spread.compressed_bytes[{i}]", f"is {v!r}, expected a size in bytes (an integer > 0)")
        for name in ("reference", "compressed", "drop"):
            values = getattr(spread, name)
            for i in range(len(values)):
                _number(dict(enumerate(values)), i, f"spread.{name}")


def _check_latency(entry: dict[str, Any]) -> None:
    _speedup(entry, "speedup", "")
    for key in ("reference_ms", "compressed_ms"):
        _positive(entry, key, "")
    if "pairs" in entry:
        _integer(entry, "pairs", "", low=1, high=10**9)
    if "estimator" in entry:
        _require(entry, "estimator", str)
    if "speedups" in entry:
        runs = _require(entry, "speedups", list)
        for i in range(len(runs)):
            _speedup(dict(enumerate(runs)), i, "speedups")
    if "peak_memory" in entry:
        memory = _require(entry, "peak_memory", dict)
        for key in ("reference_bytes", "compressed_bytes"):
            _integer(memory, key, "peak_memory", low=0, high=10**15)
        for key in ("reference_kind", "compressed_kind"):
            _require(memory, key, str, "peak_memory")
    for key, value in entry.items():
        if isinstance(value, dict):  # an informational workload ("prefill", "decode-32", ...)
            if "speedup" in value:
                _speedup(value, "speedup", key)
            for ms in ("reference_ms", "compressed_ms"):
                if ms in value:
                    _positive(value, ms, key)


# -- field checks ----------------------------------------------------------------------------------


def _scan(value: Any, where: str, depth: int) -> None:
    """Refuse a bad number or a duplicate key anywhere under ``value``, naming where it sits."""
    if depth > MAX_DEPTH:
        raise _Invalid(where, f"nests more than {MAX_DEPTH} levels deep")
    if isinstance(value, BadNumber) or (isinstance(value, float) and not math.isfinite(value)):
        raise _Invalid(where, f"is {_show(value)}, expected a finite number of reasonable size")
    if isinstance(value, dict):
        if getattr(value, "duplicates", ()):
            raise _Invalid(where, f"holds {', '.join(map(repr, value.duplicates))} more than once")
        for k, v in value.items():
            _scan(v, _join(where, k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _scan(v, f"{where}[{i}]", depth + 1)


def _require(obj: dict[Any, Any], key: Any, typ: type, where: str = "") -> Any:
    field = _join(where, key)
    if key not in obj:
        raise _Invalid(field, "is missing")
    value = obj[key]
    if not isinstance(value, typ) or isinstance(value, bool):
        names = {dict: "an object", list: "a list", str: "a string"}
        raise _Invalid(field, f"is {_show(value)}, expected {names.get(typ, typ.__name__)}")
    return value


def _number(obj: dict[Any, Any], key: Any, where: str) -> float:
    field = _join(where, key)
    if key not in obj:
        raise _Invalid(field, "is missing")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Invalid(field, f"is {_show(value)}, expected a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise _Invalid(field, f"is {_show(value)}, expected a number from {-MAX_MAGNITUDE:g} to {MAX_MAGNITUDE:g}")
    return float(value)


MIN_MS = 1e-6  # a timing under a nanosecond is not a measurement (1e-300 ms slipped through "> 0")


def _positive(obj: dict[Any, Any], key: Any, where: str) -> float:
    """A timing in ms: finite, and at least a nanosecond."""
    value = _number(obj, key, where)
    if value < MIN_MS:
        raise _Invalid(_join(where, key), f"is {value!r}, expected a time of at least {MIN_MS:g} ms")
    return value


def _speedup(obj: dict[Any, Any], key: Any, where: str) -> float:
    value = _number(obj, key, where)
    low, high = SPEEDUP_RANGE
    if not low < value < high:
        raise _Invalid(_join(where, key), f"is {value!r}, expected a speedup between {low:g} and {high:g}")
    return value


def _integer(obj: dict[Any, Any], key: Any, where: str, low: int, high: int) -> int:
    field = _join(where, key)
    if key not in obj:
        raise _Invalid(field, "is missing")
    value = obj[key]
    if type(value) is not int or not low <= value <= high:
        raise _Invalid(field, f"is {_show(value)}, expected an integer from {low} to {high}")
    return value


def _join(where: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def _type(value: Any) -> str:
    if value is None:
        return "null"
    for typ, name in ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string")):
        if isinstance(value, typ):
            return name
    return "a number"


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, BadNumber):
        return str(value)
    text = json.dumps(value) if isinstance(value, (str, bool, int, float)) else _type(value)
    return text if len(text) <= 40 else text[:37] + "..."
