"""Versioned method configs, and a changed configuration reported as such (no torch needed)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_compress.baseline_drift import GATE, definition_changes
from pytest_compress.baselines import BaselineStore, QualityBaseline
from pytest_compress.gates import decide
from pytest_compress.method_config import ConfigError, MethodConfig, NoConfig, config_fields, envelope
from pytest_compress.results import CaseResult
from pytest_compress.spec import Method
from pytest_compress.thresholds import Policy, Thresholds
from tests.helpers import make_result

FIX = "re-record with --compress-update-baselines"


@dataclass(frozen=True)
class _Cluster(MethodConfig):
    clusters: int = 16
    iterations: int = 25


@dataclass(frozen=True)
class _Other(MethodConfig):
    config_tag = "other-v"
    config_version = 2
    bits: int = 8


def _with_config(r: CaseResult, config: MethodConfig | dict) -> CaseResult:
    doc = config.to_dict() if isinstance(config, MethodConfig) else config
    return dataclasses.replace(r, method=r.method, method_config=doc)


# -- the envelope ---------------------------------------------------------------------------------


def test_to_dict_is_a_typed_versioned_envelope_and_from_dict_round_trips() -> None:
    doc = _Cluster(clusters=8).to_dict()
    assert doc == {"type": "_Cluster", "version": 1, "fields": {"clusters": 8, "iterations": 25}}
    assert _Cluster.from_dict(json.loads(json.dumps(doc))) == _Cluster(clusters=8)
    assert _Other().to_dict() == {"type": "other-v", "version": 2, "fields": {"bits": 8}}
    assert NoConfig.from_dict(NoConfig().to_dict()) == NoConfig()
    assert config_fields(doc) == {"clusters": 8, "iterations": 25}


def test_from_dict_reads_the_plain_fields_older_files_hold() -> None:
    assert _Cluster.from_dict({"clusters": 4, "iterations": 25}) == _Cluster(clusters=4)
    assert envelope({"clusters": 4}) == (None, None, {"clusters": 4})
    assert config_fields({"clusters": 4}) == {"clusters": 4}


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"type": "other-v", "version": 2, "fields": {"bits": 8}}, "of type 'other-v' cannot be read as '_Cluster'"),
        ({"type": "_Cluster", "version": 7, "fields": {}}, "_Cluster config version 7 is not the current 1"),
        ({"type": "_Cluster", "version": 1, "fields": {"evil": 1}}, "_Cluster has no field(s) evil"),
    ],
)
def test_from_dict_builds_only_the_class_named(doc: dict, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        _Cluster.from_dict(doc)
    assert says in str(info.value)


def test_method_config_from_dict_is_allow_listed_to_the_registered_type() -> None:
    method = Method("cluster", _Cluster, lambda model, cfg, ctx: model)
    assert method.config_from_dict(_Cluster(clusters=8).to_dict()) == _Cluster(clusters=8)
    assert method.config_from_dict({"clusters": 8}) == _Cluster(clusters=8)  # an older file
    with pytest.raises(ConfigError, match="takes _Cluster version 1 configs, got other-v version 2"):
        method.config_from_dict(_Other().to_dict())
    with pytest.raises(ConfigError, match="has no option.s. bits"):
        method.config_from_dict({"type": "_Cluster", "version": 1, "fields": {"bits": 4}})


# -- what changed -----------------------------------------------------------------------------------


def test_an_old_plain_config_compares_field_by_field_with_the_envelope() -> None:
    now = _with_config(make_result(), _Cluster())
    old_file = QualityBaseline.from_result(_with_config(now, {"clusters": 16, "iterations": 25}))
    assert definition_changes(old_file, now) == []
    changed = QualityBaseline.from_result(_with_config(now, {"clusters": 8, "iterations": 25}))
    assert definition_changes(changed, now) == ["method_config.clusters 8 -> 16"]
    gone = QualityBaseline.from_result(_with_config(now, {"clusters": 16}))
    assert definition_changes(gone, now) == ["method_config.iterations (absent) -> 25"]


def test_type_version_method_and_metric_changes_are_named() -> None:
    now = _with_config(make_result(), _Cluster())
    base = dataclasses.replace(
        QualityBaseline.from_result(now),
        method="kmeans",
        method_config={"type": "_Cluster", "version": 0, "fields": {"clusters": 16, "iterations": 25}},
        metric_unit="percent",
        metric_higher_is_better=False,
        metric_definition="top-1 on the held-out split",
    )
    assert definition_changes(base, now) == [
        "method kmeans -> int8-dynamic",
        "method_config.version 0 -> 1",
        "metric.unit percent -> fraction",
        "metric.direction lower-is-better -> higher-is-better",
        'metric.definition top-1 on the held-out split -> ""',
    ]


def _decide(r: CaseResult, base: QualityBaseline, policy: Policy | None = None):
    return decide(
        r,
        Thresholds(),
        quality=base,
        latency=None,
        quality_where="b/q.json",
        latency_where="b/l.json",
        update=False,
        nodeid=r.test_id,
        policy=policy or Policy(),
    )


def test_a_changed_config_replaces_the_size_regression_it_explains() -> None:
    now = _with_config(make_result(cmp_bytes=2000), _Cluster(clusters=8))
    base = QualityBaseline.from_result(_with_config(make_result(cmp_bytes=1000), _Cluster()))
    v = _decide(now, base)
    assert v.status == "fail" and v.failed_gates == (GATE,)
    assert v.reasons[0].startswith(f"configuration changed: method_config.clusters 16 -> 8; {FIX}")
    assert "size-baseline comparison says nothing" in v.reasons[0]
    # The same regression under the same configuration stays a size regression.
    same = _decide(_with_config(now, _Cluster()), base)
    assert same.failed_gates == ("size-baseline",)


def test_a_changed_config_within_tolerance_warns_and_fails_under_strict_baselines() -> None:
    now = _with_config(make_result(), _Cluster(clusters=8))
    base = QualityBaseline.from_result(_with_config(make_result(), _Cluster()))
    v = _decide(now, base)
    assert v.status == "pass" and v.stale
    assert v.notes[-1] == f"stale baseline: configuration changed: method_config.clusters 16 -> 8; {FIX} [b/q.json]"
    strict = _decide(now, base, Policy(strict_baselines=True))
    assert strict.status == "fail" and strict.failed_gates == ("stale-baseline",)
    assert "configuration changed: method_config.clusters 16 -> 8" in strict.reasons[0]


def test_the_recorded_definition_survives_a_flush(tmp_path: Path) -> None:
    r = _with_config(make_result(test_id="s/t.py::a"), _Cluster(clusters=8))
    store = BaselineStore(tmp_path)
    store.stage(r, r.test_id, None)
    store.flush()
    entry = json.loads((tmp_path / "s" / "t.json").read_text())["cases"]["s/t.py::a"]
    assert entry["method_config"] == {"type": "_Cluster", "version": 1, "fields": {"clusters": 8, "iterations": 25}}
    assert entry["metric"]["higher_is_better"] is True
    base = BaselineStore(tmp_path).quality(r.test_id)
    assert base is not None and definition_changes(base, r) == []
    assert definition_changes(base, _with_config(r, _Cluster())) == ["method_config.clusters 8 -> 16"]


@dataclass(frozen=True)
class _Steps(MethodConfig):
    steps: tuple = (("prune", (("ratio", 0.5),)), ("int8", ()))


def test_tuples_in_memory_compare_equal_to_the_lists_a_file_holds() -> None:
    now = _with_config(make_result(), _Steps())
    from_file = QualityBaseline.from_result(_with_config(now, json.loads(json.dumps(_Steps().to_dict()))))
    assert definition_changes(from_file, now) == []
    other = _Steps(steps=(("int8", ()),))
    assert definition_changes(from_file, _with_config(now, other)) == [
        'method_config.steps [["prune", [["ratio", 0.5]]], ["int8", []]] -> [["int8", []]]'
    ]


# -- end to end ------------------------------------------------------------------------------------


def test_a_changed_method_option_is_reported_as_a_configuration_change(project: pytest.Pytester) -> None:
    project.runpytest("-k", "test_prune", "--compress-update-baselines").assert_outcomes(passed=1, deselected=1)
    source = project.path / "test_model.py"
    source.write_text(source.read_text().replace('{"sparsity": 0.5}', '{"sparsity": 0.9}'))
    result = project.runpytest("-k", "test_prune")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [f"configuration changed: method_config.sparsity 0.5 -> 0.9; {FIX} (the baseline measured another *"]
    )
    result.stdout.no_fnmatch_line("*accuracy-baseline*vs baseline*")
