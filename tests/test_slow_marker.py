"""The project's conftest leaves the `slow` suites out of a directory run and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    suites = pytester.mkdir("suites")
    (suites / "test_fast.py").write_text("def test_fast():\n    pass\n")
    (suites / "test_slow.py").write_text("import pytest\npytestmark = pytest.mark.slow\n\ndef test_slow():\n    pass\n")
    return pytester


@pytest.mark.parametrize(
    ("args", "passed", "deselected"),
    [
        (["suites"], 1, 1),  # a directory run leaves the slow suite out, and says so
        (["suites", "--run-slow"], 2, 0),
        (["suites", "-m", "slow or not slow"], 2, 0),  # an -m expression decides alone
        (["suites", "-m", "not slow"], 1, 1),
        (["suites/test_slow.py"], 1, 0),  # its file named: it runs
        (["suites/test_slow.py::test_slow"], 1, 0),
        (["suites", "suites/test_slow.py"], 2, 0),
    ],
)
def test_slow_suites_run_only_when_asked_for(project: pytest.Pytester, args, passed, deselected) -> None:
    result = project.runpytest(*args, "-p", "no:compress")
    result.assert_outcomes(passed=passed, deselected=deselected)
