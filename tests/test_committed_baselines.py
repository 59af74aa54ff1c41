"""The baseline files committed under ``baselines/`` load through the store and describe today's
configurations: no entry would be reported as "configuration changed" for what it records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_compress.baseline_drift import definition_changes
from pytest_compress.baselines import BaselineStore, split_nodeid
from pytest_compress.fingerprint import Fingerprint
from pytest_compress.method_config import envelope
from pytest_compress.spec import METHODS, Metric

BASELINES = Path(__file__).resolve().parents[1] / "baselines"
QUALITY_FILES = sorted(p for p in BASELINES.rglob("*.json") if "latency" not in p.relative_to(BASELINES).parts)
LATENCY_FILES = sorted((BASELINES / "latency").glob("*.json"))


def _cases(path: Path) -> dict:
    return json.loads(path.read_text())["cases"]


def test_there_are_committed_baselines() -> None:
    assert QUALITY_FILES and LATENCY_FILES


@pytest.mark.parametrize("path", QUALITY_FILES, ids=lambda p: p.name)
def test_every_quality_entry_loads_and_its_config_rebuilds_unchanged(path: Path) -> None:
    store = BaselineStore(BASELINES)
    module = path.relative_to(BASELINES).with_suffix("").as_posix()
    for name, entry in _cases(path).items():
        # A key is a node id (what updates write) or, in files written before, the in-module name.
        base = store.quality(name if "::" in name and name.startswith(f"{module}.py::") else f"{module}.py::{name}")
        assert base is not None, name
        # Today's config, built (allow-listed) from what the entry recorded, serialises to the same
        # fields: an unchanged configuration compares clean with an entry written before the envelope.
        config = METHODS.get(entry["method"]).config_from_dict(entry["method_config"])
        assert json.loads(json.dumps(config.fields_dict())) == envelope(entry["method_config"]).fields, name
        assert [c for c in _config_changes(base, config.to_dict()) if c.startswith("method_config")] == [], name


def _config_changes(base, config_doc):  # noqa: ANN001, ANN202
    from dataclasses import replace

    from tests.helpers import make_result

    r = make_result(method=base.method)
    return definition_changes(base, replace(r, model=base.model, method_config=config_doc))


def test_recorded_metric_definitions_are_todays() -> None:
    from pytest_compress.measure import detection
    from pytest_compress.zoo import text

    metrics = {m.name: m for mod in (text, detection) for m in vars(mod).values() if isinstance(m, Metric)}
    checked = 0
    for path in QUALITY_FILES:
        for name, entry in _cases(path).items():
            recorded = entry["metric"]
            if recorded.get("definition") and recorded["name"] in metrics:
                m = metrics[recorded["name"]]
                assert (recorded["definition"], recorded["unit"]) == (m.definition, m.unit), name
                assert recorded.get("aggregate", "mean") == m.aggregate, name
                checked += 1
    assert checked


@pytest.mark.parametrize("path", LATENCY_FILES, ids=lambda p: p.name)
def test_every_latency_entry_loads(path: Path) -> None:
    doc = json.loads(path.read_text())
    fingerprint = Fingerprint(**doc["fingerprint"])
    assert fingerprint.slug == path.stem
    store = BaselineStore(BASELINES)
    for nodeid in doc["cases"]:
        assert store.latency(nodeid, fingerprint) is not None, nodeid
        # One key scheme: the latency file's node id finds the quality entry too (quality files
        # re-recorded since key entries by node id; older ones keep their in-module keys, which the
        # store renames on read).
        assert store.quality(nodeid) is not None, nodeid
        keys = _cases(BASELINES / (split_nodeid(nodeid)[0] + ".json"))
        assert nodeid in keys or split_nodeid(nodeid)[1] in keys, nodeid
