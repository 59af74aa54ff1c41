"""API misuse fails the test that made it, with one sentence naming the field and what it takes:
never an INTERNALERROR, never a traceback from the plugin's internals, never the whole session."""

from __future__ import annotations

import fnmatch
import textwrap

import pytest

from pytest_compress import options

MISUSE_CONFTEST = textwrap.dedent(
    """
    from dataclasses import dataclass

    import pytest_compress as pc

    def data():
        import torch
        g = torch.Generator().manual_seed(0)
        return torch.randn(40, 8, generator=g), torch.randint(0, 3, (40,), generator=g)

    def spec(**changes):
        import torch
        x, y = data()
        kw = dict(build=lambda: torch.nn.Linear(8, 3), eval_data=(x, y), example_inputs=(x[:1],))
        return pc.ModelSpec(**{**kw, **changes})

    @pc.register_model("tiny")
    def tiny():
        return spec()

    @pc.register_model("bad-build")
    def bad_build():
        import torch
        return spec(build=lambda: [torch.nn.Linear(8, 3)])

    @pc.register_model("mismatch")
    def mismatch():
        x, y = data()
        return spec(eval_data=(x[:10], y[:9]))

    @pc.register_model("empty")
    def empty():
        x, y = data()
        return spec(eval_data=(x[:0], y[:0]))

    @pc.register_model("not-tuple")
    def not_tuple():
        x, _ = data()
        return spec(eval_data=x)

    @pc.register_model("not-spec")
    def not_spec():
        return {"build": None}

    @pc.register_method("returns-none")
    def returns_none(model, config, ctx):
        model.half()  # forgot the return

    @pc.register_method("artifact-of-str")
    def artifact_of_str(model, config, ctx):
        return pc.Artifact(module="model.pt", payload=b"x", encoding="raw")

    @dataclass(frozen=True)
    class NeedsK(pc.MethodConfig):
        k: int

    @pc.register_method("needs-k", config=NeedsK)
    def needs_k(model, config, ctx):
        return model
    """
)

MISUSE_TESTS = textwrap.dedent(
    """
    import pytest

    def case(name, **marker):
        @pytest.mark.compress(**marker)
        def test(compress_check):
            compress_check()
        return test

    # Misuse found when the case runs.
    test_bad_build = case("x", model="bad-build", method="int8-dynamic")
    test_bad_build_again = case("x", model="bad-build", method="fp16")
    test_mismatch = case("x", model="mismatch", method="int8-dynamic")
    test_empty = case("x", model="empty", method="int8-dynamic")
    test_not_tuple = case("x", model="not-tuple", method="int8-dynamic")
    test_not_spec = case("x", model="not-spec", method="int8-dynamic")
    test_returns_none = case("x", model="tiny", method="returns-none")
    test_artifact_of_str = case("x", model="tiny", method="artifact-of-str")

    # Misuse found at collection, reported by the test it concerns.
    test_unknown_keyword = case("x", model="tiny", method="int8-dynamic", max_drop=0.1)
    test_unknown_model = case("x", model="nope", method="int8-dynamic")
    test_unknown_method = case("x", model="tiny", method="zip")
    test_bad_threshold = case("x", model="tiny", method="int8-dynamic", min_speedup="fast")
    test_method_args_not_dict = case("x", model="tiny", method="int8-dynamic", method_args=["Linear"])
    test_bad_option_value = case("x", model="tiny", method="prune-unstructured", method_args={"sparsity": "half"})
    test_missing_option = case("x", model="tiny", method="needs-k")

    @pytest.mark.compress(model="bad-build", method="int8-dynamic", method_args={"bogus": 1})
    def test_unknown_option(compress_check):
        pass  # never calls compress_check: the marker alone fails it, before any model is built

    @pytest.mark.compress("tiny")
    def test_positional_marker(compress_check):
        compress_check()

    def test_bad_call_keyword(compress_check):
        compress_check(model="tiny", method="prune-unstructured", method_args={"sparsty": 0.5})

    # And the one case that is fine passes in the same session.
    test_fine = case("x", model="tiny", method="int8-dynamic")
    """
)

# test name -> the sentence its failure shows (fnmatch pattern).
EXPECTED = {
    "test_bad_build": "model 'bad-build': build() returned list, expected a torch.nn.Module",
    "test_bad_build_again": "model 'bad-build': build() returned list, expected a torch.nn.Module",
    "test_mismatch": "model 'mismatch': ModelSpec.eval_data: inputs and targets must have the same length, "
    "got 10 inputs and 9 targets",
    "test_empty": "model 'empty': ModelSpec.eval_data is empty: give at least one (input, target) example",
    "test_not_tuple": "model 'not-tuple': ModelSpec.eval_data must be a tuple (inputs, targets), got Tensor",
    "test_not_spec": "model 'not-spec': its registered function returned dict, expected a pc.ModelSpec",
    "test_returns_none": "method 'returns-none': apply() returned NoneType, "
    "expected a torch.nn.Module or a pytest_compress.Artifact",
    "test_artifact_of_str": "method 'artifact-of-str': Artifact.module is str, expected a torch.nn.Module",
    "test_unknown_keyword": "test_misuse.py::test_unknown_keyword: unknown compress keyword(s) max_drop; "
    "valid: model, method, method_args, max_accuracy_drop*",
    "test_unknown_model": "test_misuse.py::test_unknown_model: unknown model 'nope'; registered models: *tiny*",
    "test_unknown_method": "*: unknown method 'zip'; registered methods: *int8-dynamic*",
    "test_bad_threshold": "*test_bad_threshold: *min_speedup must be a finite number*",
    "test_method_args_not_dict": "*test_method_args_not_dict: method_args must be a dict of the method's options, "
    "got list",
    "test_bad_option_value": "*test_bad_option_value: method 'prune-unstructured': option 'sparsity' must be "
    "a number (default 0.5), got str 'half'",
    "test_missing_option": "*test_missing_option: method 'needs-k' needs option(s) k in method_args; valid options: k",
    "test_unknown_option": "*test_unknown_option: method 'int8-dynamic' has no option(s) bogus; valid options: layers",
    "test_positional_marker": "*test_positional_marker: @pytest.mark.compress takes keywords only, got ('tiny',)",
    "test_bad_call_keyword": "*test_bad_call_keyword: method 'prune-unstructured' has no option(s) sparsty; "
    "valid options: *sparsity*",
}


@pytest.fixture
def misuse(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(MISUSE_CONFTEST)
    pytester.makepyfile(test_misuse=MISUSE_TESTS)
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.2\ncompress_draws = 1\n")
    return pytester


def _failure_sections(output: str) -> dict[str, str]:
    """Test name -> the text of its section under FAILURES."""
    sections: dict[str, str] = {}
    name = None
    for line in output.splitlines():
        if line.startswith("_") and line.rstrip("_ ").strip("_ ").startswith("test_"):
            name = line.strip("_ ").strip()
            sections[name] = ""
        elif line.startswith("=") and name is not None:
            name = None
        elif name is not None:
            sections[name] += line + "\n"
    return sections


def test_each_misuse_fails_its_test_with_one_sentence(misuse: pytest.Pytester) -> None:
    result = misuse.runpytest(options.UPDATE, "-W", "ignore::DeprecationWarning", "-W", "ignore::UserWarning")
    result.assert_outcomes(failed=len(EXPECTED), passed=1)
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    sections = _failure_sections(result.stdout.str())
    assert set(sections) == set(EXPECTED)
    wrong = {}
    for test, sentence in EXPECTED.items():
        lines = [line for line in sections[test].splitlines() if line.strip()]
        # pytrace=False: the section is the sentence alone — no source lines, no "E   " exception lines.
        if len(lines) != 1 or not fnmatch.fnmatch(lines[0], sentence):
            wrong[test] = lines
    assert not wrong, wrong


GOOD_AND_BAD = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="tiny", method="int8-dynamic", method_args={"sparsity": 0.5})
    def test_bad(compress_check):
        compress_check()

    @pytest.mark.compress(model="tiny", method="int8-dynamic")
    def test_good(compress_check):
        compress_check()
    """
)


def test_bad_marker_fails_that_test_only(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(MISUSE_CONFTEST)
    pytester.makepyfile(test_two=GOOD_AND_BAD)
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.2\ncompress_draws = 1\n")
    message = "*test_bad: method 'int8-dynamic' has no option(s) sparsity; valid options: layers"

    collected = pytester.runpytest("--collect-only", "-q")  # collection goes through: 2 tests
    assert collected.ret == pytest.ExitCode.OK
    collected.stdout.fnmatch_lines(["*test_two.py::test_bad", "*test_two.py::test_good"])

    result = pytester.runpytest(options.UPDATE)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([message])

    # -k routes around it: the bad marker is never reported.
    routed = pytester.runpytest(options.UPDATE, "-k", "good")
    routed.assert_outcomes(passed=1, deselected=1)
    assert routed.ret == pytest.ExitCode.OK
    assert "sparsity" not in routed.stdout.str() + routed.stderr.str()
