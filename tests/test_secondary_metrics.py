"""Perplexity-style metrics, relative-drop gates, secondary metrics and extra latency workloads:
how they are gated, stored in baselines, rendered and round-tripped (no torch models needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_compress.baselines import BaselineStore
from pytest_compress.report.render import json_document, markdown
from pytest_compress.report.rows import ALSO, build_rows
from pytest_compress.results import CaseResult, MetricResult, StorageResult
from pytest_compress.thresholds import Policy, Thresholds, threshold_gates
from tests.helpers import make_result


def _lm_result(ref_ppl: float = 5.0, cmp_ppl: float = 5.3, ci: tuple[float, float] = (0.2, 0.4)) -> CaseResult:
    base = make_result(test_id="suites/test_lang.py::test_q[lm]")
    ppl = MetricResult(
        "perplexity", "per byte", False, ref_ppl, cmp_ppl, 64, (1.6,) * 64, (1.66,) * 64,
        drop_ci=ci, aggregate="exp-mean", definition="exp(mean NLL) over 64 windows",
    )  # fmt: skip
    kl = MetricResult("kl", "nats", False, 0.0, 0.012, 64, (0.0,) * 64, (0.012,) * 64, definition="KL(ref||cmp)")
    decode = dataclasses.replace(base.latency, workload="decode-16", speedup=0.4)
    return dataclasses.replace(
        base,
        metric=ppl,
        latency=dataclasses.replace(base.latency, workload="prefill-128"),
        extra_metrics=(kl,),
        extra_latency=(decode,),
        storage=StorageResult(linear_weight_bytes=2078, linear_weight_reference_bytes=16000, bits_per_weight=4.156),
    )


@pytest.mark.parametrize(
    "ci,limit,mode,ok",
    [
        ((0.30, 0.40), 0.05, "lenient", False),  # [+6%, +8%] entirely above +5%
        ((0.20, 0.40), 0.05, "lenient", True),  # [+4%, +8%] straddles: not confidently worse
        ((0.20, 0.40), 0.05, "strict", False),  # ... and not confidently within
        ((0.05, 0.20), 0.05, "strict", True),  # [+1%, +4%] confidently within
    ],
)
def test_relative_drop_gate_modes(ci, limit, mode, ok) -> None:
    r = _lm_result(ci=ci)
    (gate,) = threshold_gates(r, Thresholds(max_relative_drop=limit), Policy(mode=mode))
    assert gate.ok is ok
    assert gate.name == "relative-drop"
    if not ok:
        assert "perplexity 5 -> 5.3 is +6.00% worse" in gate.message
        assert "max_relative_drop 5.00%" in gate.message


def test_lower_is_better_drop_and_relative_drop() -> None:
    m = _lm_result().metric
    assert m.drop == pytest.approx(0.3)
    assert m.relative_drop == pytest.approx(0.06)


def test_baseline_records_definitions_and_secondary_metrics_and_workloads(tmp_path: Path) -> None:
    r = _lm_result()
    store = BaselineStore(tmp_path)
    from pytest_compress.fingerprint import Fingerprint

    fp = Fingerprint(cpu="cpu-x", cores=2, machine="x86_64", torch="2.14.1", threads=1, device="cpu")
    store.stage(r, r.test_id, fp)
    quality_path, latency_path = store.flush()
    entry = json.loads(quality_path.read_text())["cases"][r.test_id]
    assert entry["metric"]["definition"] == "exp(mean NLL) over 64 windows"
    assert entry["metric"]["aggregate"] == "exp-mean"
    assert entry["extra_metrics"]["kl"] == {
        "unit": "nats", "reference": 0.0, "compressed": 0.012, "definition": "KL(ref||cmp)",
    }  # fmt: skip
    lat = json.loads(latency_path.read_text())["cases"][r.test_id]
    assert lat["decode-16"]["speedup"] == 0.4
    # Reading back still yields the gated quantities.
    assert BaselineStore(tmp_path).quality(r.test_id).compressed_metric == 5.3


def test_vision_style_entries_stay_unchanged(tmp_path: Path) -> None:
    r = make_result()
    store = BaselineStore(tmp_path)
    store.stage(r, r.test_id, None)
    (path,) = store.flush()
    entry = json.loads(path.read_text())["cases"][r.test_id]
    assert "extra_metrics" not in entry and "definition" not in entry["metric"]


def test_report_shows_secondary_metrics_workloads_and_bits_only_when_present() -> None:
    lm, plain = _lm_result(), make_result()
    md = markdown(build_rows([lm, plain]), ["h"])
    assert ALSO in md
    assert "kl 0.012; decode-16 0.40x; 4.16 bits/weight" in md
    assert ALSO not in markdown(build_rows([plain]), ["h"])
    doc = json.loads(json_document(build_rows([lm]), ["h"]))
    q = doc["rows"][0]["measurements"]
    assert q["extra.kl.compressed"] == {"value": 0.012, "unit": "nats"}
    assert q["latency.decode-16.speedup"]["value"] == 0.4


def test_result_round_trips_with_secondary_metrics_and_workloads() -> None:
    r = _lm_result()
    back = CaseResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r


def test_relative_drop_of_a_zero_reference_fails_with_a_reason() -> None:
    r = _lm_result(ref_ppl=0.0)
    (gate,) = threshold_gates(r, Thresholds(max_relative_drop=0.05))
    assert not gate.ok and "reference is 0" in gate.message
