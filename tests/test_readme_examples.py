"""The README's user example runs as written: its marked code blocks become a project, run with pytester.

A block the test runs is preceded in README.md by ``<!-- readme-test: FILENAME -->``; blocks with
the same file name are joined in README order (the method block is appended to the conftest).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_compress import options

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (?P<name>[\w.]+) -->\s*\n```python\n(?P<code>.*?)^```", re.S | re.M)


def readme_files(text: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for m in BLOCK.finditer(text):
        files[m["name"]] = files.get(m["name"], "") + m["code"] + "\n"
    return files


def test_readme_blocks_are_marked() -> None:
    files = readme_files(README.read_text())
    assert set(files) == {"conftest.py", "test_compression.py"}, "README lost a readme-test marker"
    assert "@pc.register_model(" in files["conftest.py"] and "@pc.register_method(" in files["conftest.py"]
    assert "@pytest.mark.compress(" in files["test_compression.py"]
    # "Extending": the hook examples run with the rest of the conftest (a failing gate would fail it).
    assert all(f"def pytest_compress_{hook}(" in files["conftest.py"] for hook in ("register", "gates", "json_row"))


def test_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    for name, code in readme_files(README.read_text()).items():
        (pytester.path / name).write_text(code)
    # The README's workflow with a short timing budget and two draws, to keep this test quick; the
    # thresholds are the README's own.
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.2\ncompress_draws = 2\n")
    first = pytester.runpytest(options.UPDATE)
    first.assert_outcomes(passed=1)
    assert (pytester.path / "baselines" / "test_compression.json").is_file()
    # "from then on `pytest` fails the test that regressed": unchanged, it passes against the baseline.
    again = pytester.runpytest("--compress-report")
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["*my-mlp*int8-dynamic*"])
    assert "INTERNALERROR" not in again.stdout.str()
