"""Registries are owned by the pytest session: two sessions in one process (the outer run and an
in-process ``pytester`` run, or two ``pytester`` runs) never see each other's registrations."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

# Imported before any in-process pytester run: pytester drops the modules a run imported, and
# torch cannot be imported twice in one process.
import torch  # noqa: F401

import pytest_compress as pc
from pytest_compress import entrypoints, registries
from pytest_compress.registry import UnknownNameError
from tests.test_entrypoints import FP16, fake_package


@pc.register_model("outer-session-model")
def outer_model() -> pc.ModelSpec:
    raise AssertionError("never built: only its registration matters here")


RUN_ONE_CONFTEST = textwrap.dedent(
    """
    import pytest_compress as pc

    @pc.register_method("fp16", override=True)
    def my_fp16(model, config, ctx):
        return model

    @pc.register_method("run-one-method")
    def run_one(model, config, ctx):
        return model

    def pytest_compress_register(register, config):
        register.model("run-one-hook-model", lambda: None)
    """
)

RUN_ONE_TEST = textwrap.dedent(
    """
    import pytest_compress as pc

    def test_run_one_sees_its_own_registrations():
        assert "run-one-method" in pc.METHODS and "run-one-hook-model" in pc.MODELS
        assert "outer-session-model" not in pc.MODELS  # the outer session's, not this one's

    def test_first_use_of_bf16_keeps_the_conftest_fp16():
        assert pc.METHODS.get("bf16").apply.__module__ == "pytest_compress.methods.precision"
        assert pc.METHODS.get("fp16").apply.__name__ == "my_fp16"
    """
)

RUN_TWO_TEST = textwrap.dedent(
    """
    import pytest_compress as pc

    def test_run_two_sees_none_of_run_one():
        assert "run-one-method" not in pc.METHODS and "run-one-hook-model" not in pc.MODELS
        assert "outer-session-model" not in pc.MODELS
        assert pc.METHODS.entry("fp16").holder == "the built-in pytest_compress.methods.precision"
        assert pc.METHODS.get("fp16").apply.__name__ == "fp16"
    """
)


def test_two_in_process_runs_do_not_see_each_other_or_the_outer_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RUN_ONE_CONFTEST)
    pytester.makepyfile(test_run=RUN_ONE_TEST)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    # Back in the outer session: none of the inner run's registrations leaked into it.
    assert "run-one-method" not in pc.METHODS and "run-one-hook-model" not in pc.MODELS
    assert pc.METHODS.entry("fp16").holder == "the built-in pytest_compress.methods.precision"
    assert "outer-session-model" in pc.MODELS

    (pytester.path / "conftest.py").unlink()
    (pytester.path / "test_run.py").unlink()
    pytester.makepyfile(test_run_two=RUN_TWO_TEST)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_outer_session_is_current_again_after_an_inner_run(pytester: pytest.Pytester) -> None:
    mine = registries.current()
    pytester.makepyfile("def test_a():\n    pass\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert registries.current() is mine
    assert registries.of(pytester.parseconfig()) is not mine


def test_what_the_process_registered_before_a_session_is_seen_by_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A script, a pytest11 plugin or a -p module registers before any session exists.
    monkeypatch.setattr(registries, "_process", registries.process().copy())
    with registries.entered(registries.process()):

        @pc.register_method("process-level-method")
        def process_level(model, config, ctx):  # noqa: ANN001, ANN202
            return model

    assert "process-level-method" not in pc.METHODS  # not this (running) session's
    pytester.makepyfile(
        "import pytest_compress as pc\n\ndef test_seen():\n    assert 'process-level-method' in pc.METHODS\n"
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_builtin_module_imported_by_an_earlier_session_fills_the_next_sessions_names() -> None:
    first, second = registries.Registries.builtin(), registries.Registries.builtin()
    with registries.entered(first):
        bf16 = first.methods.get("bf16")  # imports precision.py if no one has yet
    # precision.py will not run again in this process; the second session still gets its methods.
    assert second.methods.get("bf16") is bf16
    assert second.methods.get("fp16").apply.__module__ == "pytest_compress.methods.precision"


def test_a_name_registered_in_another_session_says_why_it_is_missing(tmp_path, monkeypatch) -> None:
    (tmp_path / "session_one_helpers.py").write_text(
        "import pytest_compress as pc\n\n"
        "@pc.register_method('helper-method')\n"
        "def helper(model, config, ctx):\n    return model\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    first, second = registries.Registries.builtin(), registries.Registries.builtin()
    with registries.entered(first):
        importlib.import_module("session_one_helpers")
    assert "helper-method" in first.methods and "helper-method" not in second.methods
    with pytest.raises(UnknownNameError, match=r"unknown method 'helper-method'.*session_one_helpers registered it"):
        second.methods.get("helper-method")


def test_leaving_out_of_order_unseats_only_its_own() -> None:
    outer, a, b = registries.current(), registries.Registries.builtin(), registries.Registries.builtin()
    registries.enter(a)
    registries.enter(b)
    registries.leave(a)
    assert registries.current() is b
    registries.leave(b)
    assert registries.current() is outer


def test_an_entry_point_override_imported_by_an_earlier_session_holds_in_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    entry_points = "[pytest_compress.methods]\nfp16 = fake_fp16_twice:half\n"
    fake_package(site, "fake-fp16-twice", "fake_fp16_twice", entry_points, FP16.format(override=", override=True"))
    monkeypatch.syspath_prepend(str(site))
    for _ in range(2):  # the package's module runs once; the second session adopts what it registered
        with registries.entered(registries.Registries.builtin()) as regs:
            entrypoints.load()
            assert regs.methods.get("fp16").apply.__module__ == "fake_fp16_twice"
