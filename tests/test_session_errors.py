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


def test_a_result_the_baseline_schema_refuses_fails_its_test_and_is_not_recorded(project: pytest.Pytester) -> None:
    project.makeconftest(
        project.path.joinpath("conftest.py").read_text()
        + "\n\n@pc.register_method('empty-file')\ndef empty_file(model, config, ctx):\n"
        "    return pc.Artifact(module=model, payload=b'', encoding='nothing')\n"
    )
    project.makepyfile(
        test_empty="""
        import pytest

        @pytest.mark.compress(model="blobs-mlp", method="empty-file")
        def test_empty(compress_check):
            compress_check()
        """
    )
    out = project.runpytest("test_empty.py", "--compress-update-baselines", "-p", "no:cacheprovider")
    out.assert_outcomes(failed=1)
    out.stdout.fnmatch_lines(["*test_empty.py::test_empty*compressed_bytes*"])
    assert "Traceback" not in out.stdout.str() + out.stderr.str()
    assert not (project.path / "baselines" / "test_empty.json").exists()
