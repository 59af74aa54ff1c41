"""Did the baseline measure what this run measures? What changed between them, field by field.

A baseline's numbers are comparable only for the same model, method, method configuration and
metric. A changed default (``clusters`` 16 -> 8), a bumped config version or a metric that now
means something else makes every number move; reported as a size or accuracy regression it sends
the reader hunting for a bug that is not there. ``definition_changes`` names each field that
differs, ``config_changed_gate`` turns that into the one failure the test shows.

Only what the baseline recorded is compared: files written before a field was recorded (an older
entry's plain ``method_config``, no ``higher_is_better``) compare what they have.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_compress.baseline_entries import QualityBaseline
from pytest_compress.method_config import envelope
from pytest_compress.results import CaseResult
from pytest_compress.thresholds import Gate

GATE = "baseline-config-changed"
# Gates whose failure a changed configuration explains: comparisons of the numbers themselves.
EXPLAINED = (
    "identical-artifact",
    "size-baseline",
    "accuracy-baseline",
    "reference-baseline",
    "latency-baseline",
    "memory-baseline",
)
FIX = "re-record with --compress-update-baselines"
ABSENT = "(absent)"


def definition_changes(base: QualityBaseline, r: CaseResult) -> list[str]:
    """``"<field> <old> -> <new>"`` for every recorded field of what was measured that differs."""
    out: list[str] = []

    def differs(name: str, old: Any, new: Any) -> None:
        if old != new:
            out.append(f"{name} {_show(old)} -> {_show(new)}")

    if base.model:
        differs("model", base.model, r.model)
    if base.method:
        differs("method", base.method, r.method)
    if base.method_config is not None:
        # As JSON both: a result in memory holds tuples where the file holds lists.
        old, new = envelope(_as_json(base.method_config)), envelope(_as_json(r.method_config))
        if old.type is not None and new.type is not None:
            differs("method_config.type", old.type, new.type)
            differs("method_config.version", old.version, new.version)
        for key in sorted(set(old.fields) | set(new.fields)):
            differs(f"method_config.{key}", old.fields.get(key, ABSENT), new.fields.get(key, ABSENT))
    m = r.metric
    differs("metric.name", base.metric_name, m.name)
    differs("metric.unit", base.metric_unit, m.unit)
    if base.metric_higher_is_better is not None:
        differs("metric.direction", _direction(base.metric_higher_is_better), _direction(m.higher_is_better))
    differs("metric.aggregate", base.metric_aggregate, m.aggregate)
    if base.metric_definition:  # older files did not record one
        differs("metric.definition", base.metric_definition, m.definition)
    return out


def config_changed_gate(changes: list[str], explained: list[Gate], where: str) -> Gate:
    """The one failure shown instead of the comparisons the changed configuration explains."""
    names = ", ".join(g.name for g in explained)
    return Gate(
        GATE,
        False,
        f"configuration changed: {'; '.join(changes)}; {FIX} (the baseline measured another configuration, "
        f"so its {names} comparison says nothing) [{where}]",
    )


def config_changed_note(changes: list[str], where: str) -> str:
    return f"configuration changed: {'; '.join(changes)}; {FIX} [{where}]"


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _direction(higher_is_better: bool) -> str:
    return "higher-is-better" if higher_is_better else "lower-is-better"


def _show(value: Any) -> str:
    if value is None or value == "" or isinstance(value, (bool, int, float, list, dict)):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
