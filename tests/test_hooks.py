"""Every hook of ``hookspecs.py``, implemented in a conftest, changes what a run does."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_compress import options
from pytest_compress.fingerprint import Fingerprint
from tests.conftest import PROJECT_CONFTEST

# A conftest implementing every hook: each leaves a mark the test below looks for.
HOOKS = textwrap.dedent(
    '''
    import dataclasses

    def _top2(outputs, targets):
        return (outputs.topk(2, dim=-1).indices == targets[:, None]).any(dim=-1).float()

    TOP2 = pc.Metric(name="top2", unit="fraction", higher_is_better=True, score=_top2)

    def _keep(model, config, ctx):
        """Returns the model unchanged."""
        return model

    def _blobs_top2():
        return dataclasses.replace(blobs_mlp(), extra_metrics=("top2",))  # a metric by name

    def pytest_compress_register(register):
        register.metric(TOP2)
        register.method("keep", _keep)
        register.model("blobs-top2", _blobs_top2)

    def pytest_compress_fingerprint(config, fingerprint):
        return {"rig": "bench-7"}

    def pytest_compress_json_row(config, row, data):
        data["row_of"] = row.test_id

    def pytest_compress_report_formats(config):
        def csv(rows, header):
            return "".join(f"{r.test_id},{r.verdict}\\n" for r in rows)
        return {"csv": csv}

    def pytest_compress_gates(item, result, thresholds):
        if result.method == "prune-unstructured":
            return [pc.Gate("max-nonzero", False, f"{result.size.compressed_nonzero} nonzero weights")]
        return [pc.Gate("always-ok", True, "")]
    '''
)

KEEP_TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="blobs-top2", method="keep")
    def test_keep(compress_check):
        compress_check()
    """
)


def test_every_hook_changes_the_run(project: pytest.Pytester) -> None:
    project.makeconftest(PROJECT_CONFTEST + HOOKS)
    project.makepyfile(test_keep=KEEP_TEST)
    result = project.runpytest(
        options.UPDATE, f"{options.DRAWS}=1", f"{options.REPORT}=json:r.json", f"{options.REPORT}=csv:r.csv"
    )

    # pytest_compress_gates: a failed gate fails its test with its message; a passed one is a checked limit.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_model.py::test_prune - *max-nonzero: * nonzero weights"])
    rows = {row["test_id"]: row for row in json.loads((project.path / "r.json").read_text())["rows"]}
    assert "always-ok" in rows["test_model.py::test_int8"]["limits_checked"]
    assert "max-nonzero" in rows["test_model.py::test_prune"]["verdict"]

    # pytest_compress_register: the registered model, method and metric ran (the metric by name).
    keep = rows["test_keep.py::test_keep"]
    assert keep["method"] == "keep" and keep["verdict"] == "new-baseline"
    assert keep["measurements"]["extra.top2.compressed"]["unit"] == "fraction"

    # pytest_compress_json_row: every JSON row carries what the hook added.
    assert all(row["row_of"] == test_id for test_id, row in rows.items())

    # pytest_compress_report_formats: --compress-report=csv:PATH wrote the hook's format.
    csv_lines = sorted((project.path / "r.csv").read_text().splitlines())
    assert [line.split(",")[0] for line in csv_lines] == sorted(rows)

    # pytest_compress_fingerprint: the fact is in the latency baseline's key, so in its file name.
    (latency_file,) = (project.path / "baselines" / "latency").glob("*.json")
    recorded = json.loads(latency_file.read_text())["fingerprint"]
    assert recorded["extra"] == [["rig", "bench-7"]]
    assert latency_file.stem == Fingerprint(**recorded).slug
    without = {k: v for k, v in recorded.items() if k != "extra"}
    assert latency_file.stem != Fingerprint(**without).slug
    # ... and a run reads the latency baseline back under the same amended key.
    project.runpytest("test_model.py::test_int8", f"{options.REPORT}=json:r2.json")  # its verdict: timing noise
    (row,) = json.loads((project.path / "r2.json").read_text())["rows"]
    assert row["measurements"]["latency.speedup"] and not any("no latency baseline" in n for n in row["notes"])


def test_hook_registrations_that_clash_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        textwrap.dedent(
            """
            def _half(model, config, ctx):
                return model.half()

            def pytest_compress_register(register):
                register.method("fp16", _half)
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*pytest_compress_register: method 'fp16' is already registered by the built-in "
            "pytest_compress.methods.precision; conftest._half registers it again*"
        ]
    )


def test_a_report_format_hook_cannot_take_a_built_in_name(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("def pytest_compress_report_formats(config):\n    return {'md': lambda rows, header: ''}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest_compress_report_formats: report format 'md' is already registered by*"])


def test_a_report_format_that_raises_fails_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "def pytest_compress_report_formats(config):\n"
        "    def boom(rows, header):\n"
        "        raise RuntimeError('disk quota')\n"
        "    return {'boom': boom}\n"
    )
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest(f"{options.REPORT}=boom:out.txt")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*ERROR: report not written: report format 'boom' failed: RuntimeError: disk quota*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
