"""End-to-end: the baseline workflow a user goes through, run with pytester."""

from __future__ import annotations

import json

import pytest

from pytest_compress import options

UPDATE = options.UPDATE


def test_missing_baseline_fails_with_instructions(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*no baseline for test_model.py::test_int8 in baselines*test_model.json; create it with "
            "`pytest 'test_model.py::test_int8' --compress-update-baselines`*"
        ]
    )


def test_update_then_unchanged_passes(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    quality = project.path / "baselines" / "test_model.json"
    first = quality.read_text()
    data = json.loads(first)
    assert set(data["cases"]) == {"test_model.py::test_int8", "test_model.py::test_prune"}
    assert first == json.dumps(data, indent=2, sort_keys=True) + "\n"  # deterministic, reviewable
    assert list((project.path / "baselines" / "latency").glob("*.json"))
    assert not list(project.path.glob("baselines/**/*.tmp"))  # atomic writes leave nothing behind

    result = project.runpytest("--compress-report")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*models: 1 reused from cache, 0 trained*"])
    # Identical model and method: the rewritten file is byte-for-byte the same.
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    assert quality.read_text() == first


def _edit_baseline(project: pytest.Pytester, keep_sha: bool) -> None:
    path = project.path / "baselines" / "test_model.json"
    data = json.loads(path.read_text())
    data["cases"]["test_model.py::test_prune"]["metric"]["compressed"] += 0.05  # baseline now claims 5 pt better
    data["cases"]["test_model.py::test_int8"]["size"]["compressed_bytes"] //= 2  # baseline now claims half the size
    if not keep_sha:  # as if written by hand / by an older version: no artifact digest to compare
        for case in data["cases"].values():
            del case["size"]["artifact_sha256"]
    path.write_text(json.dumps(data))


def test_changed_baseline_fails_exactly_that_test(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    _edit_baseline(project, keep_sha=False)
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_int8 _*",
            "size * B vs baseline * B (+100.0%) > size_tolerance 1.0% ?baselines/test_model.json?",
            "*_ test_prune _*",
            "accuracy *% vs baseline *% (-5.00 pt) > accuracy_tolerance 1.00 pt ?baselines/test_model.json?",
        ]
    )
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    project.runpytest().assert_outcomes(passed=2)


def test_same_artifact_with_different_numbers_is_reported_as_a_bug(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    _edit_baseline(project, keep_sha=True)
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "identical artifact (sha256 *) but results differ from baseline: size * vs * B*this is a bug*",
            "identical artifact (sha256 *) but results differ from baseline: *accuracy *% vs *%*this is a bug*",
        ]
    )


def test_better_than_baseline_warns_and_fails_under_strict_baselines(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    path = project.path / "baselines" / "test_model.json"
    data = json.loads(path.read_text())
    for case in data["cases"].values():  # an older baseline: 10% bigger, no digest
        case["size"]["compressed_bytes"] = int(case["size"]["compressed_bytes"] * 1.1)
        del case["size"]["artifact_sha256"]
    path.write_text(json.dumps(data))
    result = project.runpytest("--compress-report")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*StaleBaselineWarning*stale baseline: size * B is smaller than baseline * B*", "*pass (*; stale baseline)*"]
    )
    result = project.runpytest("--compress-strict-baselines")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*stale baseline: size * B is smaller than baseline*"])


def test_worse_method_fails_with_reason(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_worse="""
        import pytest

        @pytest.mark.compress(model="blobs-mlp", method="noisy", max_accuracy_drop=0.02)
        def test_noisy(compress_check):
            compress_check()
        """
    )
    result = project.runpytest("test_worse.py", UPDATE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*accuracy drop * pt ?* pt, * pt? > max_accuracy_drop 2.00 pt (* -> *, 200 examples, paired 99% lenient)*"]
    )


def test_slower_model_fails_latency_gate(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_slow="""
        import pytest

        @pytest.mark.compress(model="blobs-mlp", method="slow", min_speedup=0.9)
        def test_slow(compress_check):
            compress_check()
        """
    )
    result = project.runpytest("test_slow.py", UPDATE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*speedup 0.*x ?0.*x, 0.*x? < min_speedup 0.90x (in-run median of * pairs, 99% lenient*"]
    )


def test_latency_without_machine_baseline_is_gated_in_run(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    for f in (project.path / "baselines" / "latency").glob("*.json"):
        f.unlink()
    result = project.runpytest("--compress-report=json:out.json")
    result.assert_outcomes(passed=2)
    rows = json.loads((project.path / "out.json").read_text())["rows"]
    assert all(any("latency gated by in-run ratio only" in n for n in r["notes"]) for r in rows)


def test_corrupt_baseline_file_is_a_clear_error(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    (project.path / "baselines" / "test_model.json").write_text("{ not json")
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*baseline error: *baselines/test_model.json: not a readable baseline file (*); restore it*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*pytest_compress/*.py:*")  # no plugin frames
    # An update never rewrites a file it cannot read (its other entries would be lost): it stops,
    # says so, and leaves the file as it was; deleting the file and updating repairs it.
    update = project.runpytest(UPDATE)
    update.stdout.fnmatch_lines(["*ERROR: baselines not written: *test_model.json*delete it or restore it*"])
    assert update.ret == pytest.ExitCode.TESTS_FAILED
    assert (project.path / "baselines" / "test_model.json").read_text() == "{ not json"
    (project.path / "baselines" / "test_model.json").unlink()
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    project.runpytest().assert_outcomes(passed=2)


def test_reports_in_all_formats(project: pytest.Pytester) -> None:
    result = project.runpytest(
        UPDATE, "--compress-report", "--compress-report=json:r/out.json", "--compress-report=md:r/out.md"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*pytest-compress report*",
            "model*method*size*smaller*metric*drop*latency*speedup*verdict*also measured",
            "blobs-mlp*int8-dynamic*kB -> *kB*x*accuracy *% -> *%*pt*ms*x*new-baseline*bits/weight",
            # 50% of float32 Linear weights in the sparse-bitmap file: 16 bits of values + 1 bit of bitmap
            "blobs-mlp*prune-unstructured(sparsity=0.5)*new-baseline*17.00 bits/weight",
        ]
    )
    doc = json.loads((project.path / "r" / "out.json").read_text())
    assert [r["method"] for r in doc["rows"]] == ["int8-dynamic", "prune-unstructured(sparsity=0.5)"]
    m = doc["rows"][0]["measurements"]
    assert m["size.compressed"]["unit"] == "bytes" and m["latency.speedup"]["unit"] == "x"
    assert m["metric.reference"]["unit"] == "fraction" and m["metric.examples"]["value"] == 200
    assert doc["rows"][1]["method_config"]["sparsity"] == 0.5
    md = (project.path / "r" / "out.md").read_text()
    assert "| model" in md and "| blobs-mlp" in md


def test_corrupt_cache_entry_is_rebuilt(project: pytest.Pytester) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    entries = list((project.path / ".compress-cache" / "models").glob("*.safetensors"))
    assert len(entries) == 3  # one reference per draw (compress_draws = 3)
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:-64])
    result = project.runpytest("--compress-report", "-W", "default")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*cache entry *is corrupt*rebuilding it*", "*0 reused from cache, 1 trained*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'model="blobs-mlp", method="int8-dynamic", max_drop=0.1',
            "*unknown compress keyword(s) max_drop; valid: model, method, method_args, max_accuracy_drop*",
        ),
        (
            'model="nope", method="int8-dynamic"',
            "*unknown model 'nope'; registered models: blobs-mlp, digits-cnn*",
        ),
        (
            'model="blobs-mlp", method="zip"',
            "*unknown method 'zip'; registered methods: bf16, cluster, distill, fp16, int4-weight-only*noisy*",
        ),
        (
            'model="blobs-mlp", method="int8-dynamic", min_speedup="fast"',
            "*min_speedup must be a finite number*",
        ),
    ],
)
def test_marker_usage_errors(pytester: pytest.Pytester, marker: str, message: str) -> None:
    from tests.conftest import PROJECT_CONFTEST

    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.compress({marker})
        def test_x(compress_check):
            compress_check()
        """
    )
    result = pytester.runpytest()
    # A bad marker fails its own test (the rest of the session runs: see test_misuse.py).
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])


def test_unknown_method_option_fails_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_opt="""
        def test_x(compress_check):
            compress_check(model="blobs-mlp", method="prune-unstructured", method_args={"sparsty": 0.5})
        """
    )
    result = project.runpytest("test_opt.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*method 'prune-unstructured' has no option(s) sparsty; valid options: *sparsity*"])


# Appended to the project's conftest: int8-dynamic, silently made worse (noise before quantizing).
NOISY_INT8 = """
from pytest_compress.spec import METHODS, Method

_int8 = METHODS.get("int8-dynamic")


def _noisy_int8(model, config, ctx):
    return _int8.apply(noisy(model, config, ctx), config, ctx)


METHODS.replace("int8-dynamic", Method("int8-dynamic", _int8.config_type, _noisy_int8))
"""


def test_retrained_reference_is_judged_against_the_recorded_spread(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    data = json.loads((project.path / "baselines" / "test_model.json").read_text())
    for case in data["cases"].values():
        assert case["spread"]["draws"] == 3 and len(case["spread"]["drop"]) == 3
        assert len(case["reference_sha256"]) == 64 and len(case["eval_sha256"]) == 64
    # Same machine, same reference: the exact comparison.
    result = project.runpytest("--compress-report=json:exact.json")
    result.assert_outcomes(passed=2)
    rows = json.loads((project.path / "exact.json").read_text())["rows"]
    assert {r["baseline"]["comparison"] for r in rows} == {"exact"}
    # Another initialisation stands in for another machine's kernels: another reference, same data.
    monkeypatch.setenv("BLOBS_SEED", "7")
    result = project.runpytest("--compress-report", "--compress-report=json:spread.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*pass (limits ok; baseline spread)*", "*pass (no limits set; baseline spread)*"])
    rows = json.loads((project.path / "spread.json").read_text())["rows"]
    for row in rows:
        assert row["baseline"]["comparison"] == "spread"
        band = row["baseline"]["spread"]["accuracy-baseline"]
        assert band["draws"] == 3 and band["low"] <= band["now"] <= band["high"]
    # A real regression on the retrained reference still fails, named against the spread. It is
    # planted inside int8-dynamic (same name, same config: a bug, not a configuration change).
    from tests.conftest import PROJECT_CONFTEST

    project.makeconftest(PROJECT_CONFTEST + NOISY_INT8)
    result = project.runpytest("-k", "test_int8")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*accuracy drop * outside the baseline's retraining spread (3 draws*"])


def test_changed_eval_data_fails_even_for_an_identical_artifact(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.runpytest(UPDATE).assert_outcomes(passed=2)
    monkeypatch.setenv("BLOBS_EVAL_OFFSET", "1")
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*eval data changed: digest * vs baseline *not comparable*"])
