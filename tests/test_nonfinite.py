"""A NaN or infinite result never passes a gate and is never written to a baseline."""

from __future__ import annotations

import dataclasses
import json
import math
import textwrap

import pytest

from pytest_compress.gates import decide
from pytest_compress.results import DrawResult
from pytest_compress.thresholds import Policy, Thresholds
from tests.helpers import make_result

NAN, INF = float("nan"), float("inf")


def _decide(r, t: Thresholds = Thresholds(), update: bool = False, policy: Policy = Policy()):  # noqa: B008
    return decide(r, t, quality=None, latency=None, quality_where="b.json", latency_where="l.json",
                  update=update, nodeid="t.py::a", policy=policy)  # fmt: skip


@pytest.mark.parametrize("mode", ["lenient", "strict"])
@pytest.mark.parametrize(
    "changes",
    [
        {"cmp_acc": NAN},  # a compressed model that outputs NaN, scored by a per-example loss
        {"ref_acc": NAN},  # a reference that outputs NaN
        {"drop_ci": (NAN, NAN)},
        {"cmp_acc": INF, "drop_ci": (-INF, -INF)},
        {"speedup": 2.0, "speedup_ci": (NAN, 2.1)},
    ],
)
def test_a_non_finite_result_fails_every_limit_instead_of_passing(changes: dict, mode: str) -> None:
    r = make_result(**changes)
    limits = Thresholds(max_accuracy_drop=0.05, max_relative_drop=0.05, min_speedup=0.5)
    v = _decide(r, limits, update=True, policy=Policy(mode=mode))
    assert v.status == "fail"
    assert v.failed_gates[0] == "non-finite"
    assert "not written to the baseline" in v.reasons[0]


def test_non_finite_names_each_quantity_once() -> None:
    r = make_result(cmp_acc=NAN, drop_ci=(NAN, NAN))
    r = r.with_draws((DrawResult(1, 0.9, NAN, 10, "", speedup=INF),))
    found = r.non_finite()
    assert found == ["compressed accuracy = nan", "accuracy drop interval = nan",
                     "draw 1 compressed accuracy = nan", "draw 1 speedup = inf"]  # fmt: skip
    assert make_result().non_finite() == []


def test_a_nan_interval_is_the_wrong_side_of_every_limit() -> None:
    for mode in ("lenient", "strict"):
        p = Policy(mode=mode)
        assert p.worse_than((NAN, 0.1), 0.5, higher_is_better=False)
        assert p.worse_than((1.0, NAN), 0.5, higher_is_better=True)
        assert not p.worse_than((0.0, 0.1), 0.5, higher_is_better=False)


NAN_CONFTEST = textwrap.dedent(
    """
    import pytest_compress as pc

    def nll(outputs, targets):
        import torch
        return torch.nn.functional.cross_entropy(outputs, targets, reduction="none")

    NLL = pc.Metric(name="nll", unit="nats", higher_is_better=False, score=nll)

    @pc.register_model("tiny-nll")
    def tiny():
        import torch
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(200, 8, generator=g), torch.arange(200) % 2
        return pc.ModelSpec(build=lambda: torch.nn.Linear(8, 2), eval_data=(x, y), example_inputs=(x[:1],),
                            metric=NLL)

    @pc.register_method("nan-out")
    def nan_out(model, config, ctx):
        import torch
        with torch.no_grad():
            model.weight[0, 0] = float("nan")
        return model
    """
)


def test_a_model_that_outputs_nan_fails_and_leaves_no_nan_in_the_baseline(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(NAN_CONFTEST)
    pytester.makepyfile(
        test_nan="""
        import pytest

        @pytest.mark.compress(model="tiny-nll", method="nan-out", max_accuracy_drop=0.1, max_relative_drop=0.1)
        def test_nan(compress_check):
            compress_check()

        @pytest.mark.compress(model="tiny-nll", method="fp16")
        def test_ok(compress_check):
            compress_check()
        """
    )
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.1\ncompress_draws = 1\n")
    out = pytester.runpytest("--compress-update-baselines", "--compress-report=json:r.json", "-p", "no:cacheprovider")
    out.assert_outcomes(passed=1, failed=1)
    out.stdout.fnmatch_lines(["compressed nll = nan*not written to the baseline*"])
    text = (pytester.path / "baselines" / "test_nan.json").read_text()
    cases = json.loads(text, parse_constant=lambda c: pytest.fail(f"baseline holds {c}"))["cases"]
    assert list(cases) == ["test_nan.py::test_ok"]
    report = json.loads((pytester.path / "r.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    row = next(r for r in report["rows"] if r["test_id"].endswith("test_nan"))
    assert any(v is None for v in _leaves(row))  # NaN written as null, never as a bare NaN token
    ok = next(r for r in report["rows"] if r["test_id"].endswith("test_ok"))
    assert math.isfinite(ok["measurements"]["metric.drop"]["value"])


def _leaves(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_a_result_from_an_xdist_worker_keeps_its_non_finite_values_detectable() -> None:
    from pytest_compress.results import CaseResult

    r = dataclasses.replace(make_result(cmp_acc=NAN, drop_ci=(0.0, 0.1)))
    assert CaseResult.from_dict(r.to_dict()).non_finite() == ["compressed accuracy = nan"]
