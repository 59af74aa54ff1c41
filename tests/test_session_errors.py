"""Errors at session end (writing baselines and reports) are one clear line and a failed exit, never a
traceback with no summary."""

from __future__ import annotations

import pytest


def test_a_directory_where_the_report_goes_is_a_clear_error(project: pytest.Pytester) -> None:
    (project.path / "r.md").mkdir()
    out = project.runpytest("-k", "prune", "--compress-report=md:r.md", "-p", "no:cacheprovider")
    out.stdout.fnmatch_lines(["*ERROR: report not written:*r.md*"])
    assert "Traceback" not in out.stdout.str() + out.stderr.str()
    assert out.ret == pytest.ExitCode.TESTS_FAILED


def test_a_directory_where_the_baseline_goes_is_a_clear_error(project: pytest.Pytester) -> None:
    (project.path / "baselines" / "test_model.json").mkdir(parents=True)
    out = project.runpytest("-k", "prune", "--compress-update-baselines", "-p", "no:cacheprovider")
    out.stdout.fnmatch_lines(["*ERROR: baselines not written:*test_model.json*"])
    assert "Traceback" not in out.stdout.str() + out.stderr.str()
    assert out.ret == pytest.ExitCode.TESTS_FAILED
    assert (project.path / "baselines" / "test_model.json").is_dir()  # nothing was removed
