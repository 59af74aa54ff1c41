"""Peak memory: measured in a forked child (a large temporary shows, the parent's state does
not), gated by max_peak_memory_bytes, reported in the JSON row and the table, off by default,
and results written without it still load."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap

import pytest
import torch
from torch import nn

from pytest_compress.measure.memory import CPU_RSS, cpu_peak, measure_pair
from pytest_compress.options import MEMORY, UPDATE
from pytest_compress.report.render import json_document
from pytest_compress.report.rows import ALSO, also, build_row, build_rows, headers
from pytest_compress.results import CaseResult, MemoryResult
from pytest_compress.thresholds import Thresholds, threshold_gates
from tests.helpers import make_result

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is measured on Linux only")

TEMP_BYTES = 200 * 2**20  # 200 MiB


class Hog(nn.Module):
    """A tiny model whose forward allocates (and writes) a 200 MiB temporary."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tmp = torch.ones(TEMP_BYTES // 4)
        return self.fc(x) + tmp[:1].sum() * 0


@linux
def test_a_large_temporary_shows_and_the_parents_memory_does_not() -> None:
    x = torch.randn(1, 16)
    held = torch.ones(TEMP_BYTES // 4)  # the parent holds 200 MiB: it must not count for either model
    small = cpu_peak(nn.Linear(16, 3), (x,))
    hog = cpu_peak(Hog(), (x,))
    del held
    assert small.kind == hog.kind == CPU_RSS
    assert small.bytes < 4 * 2**20, small  # a 16x3 Linear: a few pages, not the parent's 200 MiB
    assert hog.bytes - small.bytes >= 200e6, (hog, small)


@linux
def test_weights_count_smaller_weights_measure_smaller() -> None:
    big = nn.Sequential(nn.Linear(1024, 2048), nn.Linear(2048, 8))  # ~8.4 MB of float32 weights
    pruned = nn.Sequential(nn.Linear(1024, 512), nn.Linear(512, 8))  # a quarter of the weights
    m = measure_pair(big, pruned, (torch.randn(1, 1024),), "cpu", "cpu")
    assert m.reference_bytes >= 8e6, m
    assert m.compressed_bytes < 0.4 * m.reference_bytes, m
    assert m.ratio > 2.5


def test_a_failing_child_is_reported_not_hidden() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom in forward")

    from pytest_compress.measure.memory import MemoryUnavailable

    with pytest.raises(MemoryUnavailable, match="boom in forward"):
        cpu_peak(Broken(), (torch.randn(1, 16),))


def _with_memory(compressed: int = 30_000_000, reference: int = 120_000_000) -> CaseResult:
    return dataclasses.replace(make_result(), memory=MemoryResult(reference, compressed, CPU_RSS, CPU_RSS))


def test_threshold_fails_over_and_passes_under() -> None:
    (over,) = threshold_gates(_with_memory(), Thresholds(max_peak_memory_bytes=20_000_000))
    assert over.name == "peak-memory" and not over.ok
    assert over.message.startswith("peak memory 30000000 B (30.00 MB, cpu-rss) > max_peak_memory_bytes 20000000 B")
    assert "\n" not in over.message
    (under,) = threshold_gates(_with_memory(), Thresholds(max_peak_memory_bytes=40_000_000))
    assert under.ok


def test_threshold_without_a_measurement_fails_saying_why() -> None:
    r = dataclasses.replace(make_result(), details={"memory_note": "peak memory not measured: needs Linux"})
    (gate,) = threshold_gates(r, Thresholds(max_peak_memory_bytes=1))
    assert not gate.ok
    assert gate.message == "peak memory not measured: needs Linux; max_peak_memory_bytes 1 B cannot be checked"


@pytest.mark.parametrize("bad", [0, -5, float("nan")])
def test_threshold_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="max_peak_memory_bytes"):
        Thresholds(max_peak_memory_bytes=bad)


def test_json_row_and_column_carry_the_memory() -> None:
    row = build_row(_with_memory())
    data = row.to_dict()
    assert data["memory"] == {
        "reference_bytes": 120_000_000, "compressed_bytes": 30_000_000,
        "reference_kind": "cpu-rss", "compressed_kind": "cpu-rss",
    }  # fmt: skip
    assert data["measurements"]["memory.compressed"] == {"value": 30_000_000, "unit": "bytes"}
    assert data["measurements"]["memory.ratio"] == {"value": 4.0, "unit": "x"}
    assert ALSO in headers([row])
    assert also(row) == "peak mem 120.00 MB -> 30.00 MB"
    doc = json.loads(json_document(build_rows([_with_memory()]), []))
    assert json.dumps(doc["rows"]).count('"compressed_kind": "cpu-rss"') == 1  # "results" holds it too


def test_without_memory_nothing_changes_in_the_row() -> None:
    row = build_row(make_result())
    assert row.to_dict()["memory"] is None
    assert not any(k.startswith("memory.") for k in row.quantities)
    assert ALSO not in headers([row])


def test_results_round_trip_and_old_results_without_memory_load() -> None:
    r = _with_memory()
    assert CaseResult.from_dict(r.to_dict()).memory == r.memory
    old = make_result().to_dict()
    del old["memory"]  # written before peak memory existed
    assert CaseResult.from_dict(old).memory is None


CONFTEST = textwrap.dedent(
    f"""
    import torch
    import pytest_compress as pc

    class Hog(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(16, 3)

        def forward(self, x):
            return self.fc(x) + torch.ones({TEMP_BYTES // 4})[:1].sum() * 0

    @pc.register_model("hog")
    def hog():
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(32, 16, generator=g), torch.randint(0, 3, (32,), generator=g)
        return pc.ModelSpec(build=Hog, eval_data=(x, y), example_inputs=(x[:1],), eval_batch_size=32)

    @pc.register_method("keep")
    def keep(model, config, ctx):
        return model

    @pc.register_method("slim")
    def slim(model, config, ctx):
        return model.fc  # the same outputs' layer, without the temporary
    """
)

TESTS = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="hog", method="keep", max_peak_memory_bytes=100_000_000)
    def test_keep(compress_check):
        compress_check()

    @pytest.mark.compress(model="hog", method="slim", max_peak_memory_bytes=100_000_000)
    def test_slim(compress_check):
        compress_check()

    @pytest.mark.compress(model="hog", method="slim")
    def test_unlimited(compress_check):
        compress_check()
    """
)


@pytest.fixture
def hog_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_hog=TESTS)
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.1\ncompress_draws = 1\n")
    return pytester


@linux
def test_end_to_end_gate_and_report(hog_project: pytest.Pytester) -> None:
    result = hog_project.runpytest(UPDATE, "--compress-report=json:out.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["peak memory * B (*cpu-rss) > max_peak_memory_bytes 100000000 B*"])
    rows = {r["test_id"].split("::")[1]: r for r in json.loads((hog_project.path / "out.json").read_text())["rows"]}
    assert rows["test_keep"]["memory"]["reference_bytes"] >= 200e6
    assert rows["test_slim"]["memory"]["compressed_bytes"] < 100e6
    assert rows["test_unlimited"]["memory"] is None  # no limit, no --compress-memory: not measured


@linux
def test_option_measures_every_case(hog_project: pytest.Pytester) -> None:
    result = hog_project.runpytest(UPDATE, MEMORY, "--compress-report=json:out.json", "-k", "unlimited")
    result.assert_outcomes(passed=1)
    (row,) = json.loads((hog_project.path / "out.json").read_text())["rows"]
    assert row["memory"]["compressed_kind"] == "cpu-rss"


# -- per-machine baselines ---------------------------------------------------------------------------


def _fp():  # noqa: ANN202
    from pytest_compress.fingerprint import Fingerprint

    return Fingerprint(cpu="cpu-x", cores=2, machine="x86_64", torch="2.14.1", threads=1, device="cpu")


def test_latency_entry_records_peak_memory_and_old_entries_read_without_it(tmp_path) -> None:  # noqa: ANN001
    from pytest_compress.baselines import BaselineStore

    r, plain = _with_memory(), make_result(test_id="suites/test_x.py::test_b[m]")
    store = BaselineStore(tmp_path)
    store.stage(r, r.test_id, _fp())
    store.stage(plain, plain.test_id, _fp())
    _, latency_path = store.flush()
    cases = json.loads(latency_path.read_text())["cases"]
    assert cases[r.test_id]["peak_memory"]["compressed_bytes"] == 30_000_000
    assert "peak_memory" not in cases[plain.test_id]
    reread = BaselineStore(tmp_path)
    got = reread.latency(r.test_id, _fp())
    assert (got.peak_memory_bytes, got.peak_memory_kind) == (30_000_000, CPU_RSS)
    assert reread.latency(plain.test_id, _fp()).peak_memory_bytes is None


def test_a_bad_recorded_peak_memory_is_refused() -> None:
    from pytest_compress.baseline_schema import LATENCY, BaselineValueError, check_new_entry

    entry = {"speedup": 2.0, "reference_ms": 1.0, "compressed_ms": 0.5, "peak_memory": {"compressed_bytes": -1}}
    with pytest.raises(BaselineValueError, match="peak_memory"):
        check_new_entry(entry, LATENCY, "t")


def test_memory_baseline_gate() -> None:
    from pytest_compress.baseline_gates import memory_baseline_gate
    from pytest_compress.baselines import LatencyBaseline

    base = LatencyBaseline(2.0, 1.0, 0.5, peak_memory_bytes=20_000_000, peak_memory_kind=CPU_RSS)
    t = Thresholds()  # memory_tolerance 10% + 1 MiB
    over = memory_baseline_gate(_with_memory(compressed=30_000_000), base, t, "here.json")
    assert over is not None and not over.ok
    assert over.message == (
        "peak memory 30000000 B (cpu-rss) > baseline 20000000 B + memory_tolerance 10% + 1 MiB = 23048576 B [here.json]"
    )
    assert memory_baseline_gate(_with_memory(compressed=22_000_000), base, t, "").ok
    cuda = dataclasses.replace(base, peak_memory_kind="cuda-allocated")
    assert memory_baseline_gate(_with_memory(), cuda, t, "") is None  # other quantity: not compared
    assert memory_baseline_gate(_with_memory(), dataclasses.replace(base, peak_memory_bytes=None), t, "") is None


@linux
def test_end_to_end_memory_baseline(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    sized = CONFTEST.replace(f"torch.ones({TEMP_BYTES // 4})", "torch.ones(int(os.environ['HOG_MIB']) * 2**18)")
    pytester.makeconftest(sized.replace("import torch\n", "import os\nimport torch\n", 1))
    pytester.makepyfile(
        test_grow='import pytest\n\n@pytest.mark.compress(model="hog", method="keep")\n'
        "def test_keep(compress_check):\n    compress_check()\n"
    )
    # A loose latency band: this test is about memory, not a 0.1 s timing.
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.1\ncompress_draws = 1\ncompress_latency_tolerance = 0.9\n")
    monkeypatch.setenv("HOG_MIB", "50")
    pytester.runpytest(UPDATE, MEMORY).assert_outcomes(passed=1)
    (latency_file,) = (pytester.path / "baselines" / "latency").glob("*.json")
    (entry,) = json.loads(latency_file.read_text())["cases"].values()
    # 50 MiB = 52.4 MB; the same slack as the 200 MiB checks above: RSS counts file-backed pages
    # too, and the kernel may drop a few of them while the child runs (make test measured 52.28 MB).
    assert entry["peak_memory"]["compressed_bytes"] >= 50e6
    pytester.runpytest(MEMORY).assert_outcomes(passed=1)
    pytester.runpytest().assert_outcomes(passed=1)  # not measured: not compared
    monkeypatch.setenv("HOG_MIB", "100")
    result = pytester.runpytest(MEMORY)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*peak memory * B (cpu-rss) > baseline * B + memory_tolerance 10% + 1 MiB*"])
