from __future__ import annotations

import pytest

from tools.update_readme import splice


def test_splice_replaces_only_the_named_block() -> None:
    readme = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n<!-- y:start -->\nkeep\n<!-- y:end -->\n"
    out = splice(readme, "x", "new table\n")
    assert out == "a\n<!-- x:start -->\nnew table\n<!-- x:end -->\nb\n<!-- y:start -->\nkeep\n<!-- y:end -->\n"


def test_missing_block_is_an_error() -> None:
    with pytest.raises(SystemExit, match="no <!-- z:start -->"):
        splice("nothing here", "z", "x")


def test_latency_drift_compares_a_run_with_the_mean_of_the_recorded_runs() -> None:
    import math

    from tools.latency_drift import drifts

    latency = {
        "cases": {"a": {"speedup": 2.0, "speedups": [1.9, 2.1]}, "b": {"speedup": 0.5}, "gone": {"speedup": 1.0}}
    }
    row = lambda test_id, s: {"test_id": test_id, "measurements": {"latency.speedup": {"value": s, "unit": "x"}}}  # noqa: E731
    report = {"rows": [row("a", 1.5), row("b", 0.55), row("new", 3.0), {"test_id": "b2", "measurements": {}}]}
    found = drifts(report, latency)
    assert [(t, mean, now) for _, t, mean, now in found] == [("a", 2.0, 1.5), ("b", 0.5, 0.55)]
    assert math.isclose(found[0][0], math.log(0.75))


def test_carry_over_splits_reference_first_from_compressed_first_pairs() -> None:
    from tools.carry_over import splits

    # pairs 0, 2: reference first (ratio 2.0); pairs 1, 3: compressed first (ratio 3.0)
    lat = {"reference_s": [2.0, 3.0, 2.0, 3.0], "compressed_s": [1.0, 1.0, 1.0, 1.0]}
    report = {"results": [{"test_id": "a", "latency": lat}, {"test_id": "untimed", "latency": None}]}
    assert splits(report) == [(1.5, "a", 2.0, 3.0)]


def test_settle_decay_times_each_call_after_the_switch() -> None:
    import time

    from tools.settle_decay import after_switch, table

    state = {"last": ""}

    def model(name: str, seconds: float):
        def run() -> None:
            # the first call after the other model costs 5 ms more
            time.sleep(seconds + (0.005 if state["last"] not in ("", name) else 0.0))
            state["last"] = name

        return run

    ms = after_switch(model("r", 0.0), model("c", 0.001), calls=3, reps=3)
    assert ms[0] > 5.5 and ms[1] < 5.0 and ms[2] < 5.0
    text = table([{"case": "s.py::t[a]", "compressed_after_reference": ms, "reference_after_compressed": ms}], 3)
    assert "| `t[a]` | compressed |" in text and text.count("\n") == 3
