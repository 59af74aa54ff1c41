"""The plugin's outside: --help stays as documented, loading it never imports torch."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_compress import options

GOLDEN = Path(__file__).parent / "golden" / "help.txt"


def _help_section(text: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model compression regression testing"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" "))
    ini = [line for line in lines if line.strip().startswith("compress_")]
    return "\n".join(lines[start:end]).rstrip() + "\n\n" + "\n".join(ini) + "\n"


def test_help_matches_golden(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = pytester.runpytest_subprocess("--help")
    section = _help_section(result.stdout.str())
    if not GOLDEN.exists():  # first run writes it; review and commit
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(section)
    assert section == GOLDEN.read_text()


def test_loading_the_plugin_does_not_import_torch() -> None:
    code = "import pytest_compress.plugin, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


HELP_IMPORTS = """
import contextlib, io, json, sys
import pytest

with contextlib.redirect_stdout(io.StringIO()) as out:
    pytest.main(["--help"])
print(json.dumps({
    "listed": "--compress-report" in out.getvalue(),
    "heavy": sorted(m for m in ("torch", "pytest_compress.check", "pytest_compress.runner") if m in sys.modules),
}))
"""


def test_pytest_help_imports_neither_torch_nor_the_check_workflow(tmp_path: Path) -> None:
    """The whole of ``pytest --help`` (configure included, every installed plugin loaded), not
    just importing the plugin: bench/help_load_time.py measures what it costs."""
    done = subprocess.run([sys.executable, "-c", HELP_IMPORTS], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"listed": True, "heavy": []}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("term", options.ReportTarget("term")),
        ("json:a/b.json", options.ReportTarget("json", "a/b.json")),
        ("md:r.md", options.ReportTarget("md", "r.md")),
        ("html:out/r.html", options.ReportTarget("html", "out/r.html")),
    ],
)
def test_report_option_parses(value: str, expected: options.ReportTarget) -> None:
    assert options.parse_report(value) == expected


@pytest.mark.parametrize("value", ["json", "json:", "term:x", ":x", "a b:x"])
def test_report_option_rejects(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        options.parse_report(value)


def test_unknown_report_format_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Any FORMAT:PATH parses (a plugin may add the format); an unknown one stops the run at start-up."""
    result = pytester.runpytest_subprocess(f"{options.REPORT}=xml:x.xml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown report format 'xml'; formats: benchmark-json, html, json, md, term*"])


def test_bad_cli_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--compress-threads=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--compress-threads: expected a whole number >= 1, got '0'*"])


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ncompress_min_speedup = fast\n")
    pytester.makepyfile("def test_a():\n    assert True\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini key compress_min_speedup = 'fast'*"])
