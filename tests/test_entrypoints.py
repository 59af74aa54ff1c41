"""Entry-point groups: a real installed package (``examples/pytest-compress-example``) adds a
method, a metric and a report format; loading stays lazy (``--help`` imports neither it nor
torch); clashes are usage errors naming the packages; replacing a built-in takes override=True.

The example is installed with ``pip --target`` into a temporary folder put on the inner run's
PYTHONPATH, so the shared environment is never changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_compress import options
from tests.conftest import PROJECT_CONFTEST

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pytest-compress-example"


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed (no dependencies, no build isolation) into a fresh folder."""
    root = tmp_path_factory.mktemp("example")
    src, site = root / "src", root / "site"
    shutil.copytree(EXAMPLE, src)  # building writes build/ and *.egg-info next to the sources
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, src]
    subprocess.run(cmd, check=True, capture_output=True)
    return site


def on_path(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """The inner pytest (a subprocess) sees ``folders`` first on sys.path, so their entry points too."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*map(str, folders), os.environ.get("PYTHONPATH", "")]))


def fake_package(site: Path, dist: str, module: str, entry_points: str, code: str) -> None:
    """An installed distribution as importlib.metadata sees one: a dist-info folder and a module."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (site / f"{module}.py").write_text(textwrap.dedent(code))


EXAMPLE_USER = textwrap.dedent(
    """
    import dataclasses

    @pc.register_model("blobs-top2")
    def blobs_top2():
        return dataclasses.replace(blobs_mlp(), extra_metrics=("top2",))  # the package's metric, by name
    """
)

EXAMPLE_TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="blobs-top2", method="zero-small", method_args={"threshold": 0.05})
    def test_zero_small(compress_check):
        compress_check()
    """
)


def test_example_package_adds_a_method_a_metric_and_a_report_format(
    project: pytest.Pytester, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path(monkeypatch, example_site)
    project.makeconftest(PROJECT_CONFTEST + EXAMPLE_USER)
    project.makepyfile(test_example=EXAMPLE_TEST)
    result = project.runpytest_subprocess(
        "test_example.py", options.UPDATE, f"{options.DRAWS}=1", f"{options.REPORT}=csv:r.csv",
        f"{options.REPORT}=json:r.json",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    (row,) = json.loads((project.path / "r.json").read_text())["rows"]
    assert row["method"] == "zero-small(threshold=0.05)"  # the package's method, with its config
    assert 0 <= row["measurements"]["extra.top2.compressed"]["value"] <= 1  # the package's metric
    lines = (project.path / "r.csv").read_text().splitlines()  # the package's report format
    assert lines[0] == "test_id,model,method,verdict,size.reduction,metric.drop"
    assert lines[1].startswith("test_example.py::test_zero_small,blobs-top2,zero-small(threshold=0.05),new-baseline,")


# Written when pytest --help ends: what it imported and what the registries know.
HELP_PROBE = textwrap.dedent(
    """
    import json
    import sys

    def pytest_unconfigure(config):
        import pytest_compress as pc

        facts = {
            "torch": "torch" in sys.modules,
            "imported": sorted(m for m in sys.modules if m.startswith("pc_example.")),
            "declared": ["zero-small" in pc.METHODS, "top2" in pc.METRICS, "csv" in pc.REPORTERS],
        }
        with open("facts.json", "w") as fh:
            json.dump(facts, fh)
    """
)


def test_help_with_the_example_installed_imports_neither_it_nor_torch(
    pytester: pytest.Pytester, example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path(monkeypatch, example_site)
    pytester.makeconftest(HELP_PROBE)
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == pytest.ExitCode.OK
    facts = json.loads((pytester.path / "facts.json").read_text())
    # The names are known (the entry points were read) but no module of the package was imported:
    # pc_example.methods imports torch at its top.
    assert facts == {"torch": False, "imported": [], "declared": [True, True, True]}


def test_two_packages_declaring_one_name_is_a_usage_error(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    for dist, module in (("fake-a", "fake_a"), ("fake-b", "fake_b")):
        fake_package(site, dist, module, f"[pytest_compress.methods]\nshared = {module}:apply\n", "")
    on_path(monkeypatch, site)
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*entry point pytest_compress.methods 'shared' is declared by two packages: "
            "package fake-? (shared = 'fake_?:apply') and package fake-? (shared = 'fake_?:apply')*"
        ]
    )


FP16 = """
    import pytest_compress as pc

    @pc.register_method("fp16"{override})
    def half(model, config, ctx):
        return model
    """


def test_a_package_replacing_a_built_in_without_override_is_a_usage_error(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    fake_package(
        site, "fake-fp16", "fake_fp16", "[pytest_compress.methods]\nfp16 = fake_fp16:half\n", FP16.format(override="")
    )
    on_path(monkeypatch, site)
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*entry point pytest_compress.methods of package fake-fp16 (fp16 = 'fake_fp16:half'): method 'fp16' is "
            "already registered by the built-in pytest_compress.methods.precision; fake_fp16.half registers it "
            "again — pass override=True*"
        ]
    )


def test_a_package_replaces_a_built_in_with_override(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    fake_package(
        site, "fake-fp16", "fake_fp16", "[pytest_compress.methods]\nfp16 = fake_fp16:half\n",
        FP16.format(override=", override=True"),
    )  # fmt: skip
    on_path(monkeypatch, site)
    pytester.makepyfile(
        """
        import pytest_compress as pc

        def test_fp16_is_the_package_s():
            assert pc.METHODS.get("fp16").apply.__module__ == "fake_fp16"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_a_package_model_is_declared_and_imported_on_first_use(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    fake_package(
        site, "fake-models", "fake_models", "[pytest_compress.models]\nfake-blobs = fake_models:blobs\n",
        """
        import pytest_compress as pc

        @pc.register_model("fake-blobs")
        def blobs():
            raise AssertionError("not called: only registered")
        """,
    )  # fmt: skip
    on_path(monkeypatch, site)
    pytester.makepyfile(
        """
        import sys

        import pytest_compress as pc

        def test_declared_then_imported():
            assert "fake-blobs" in pc.MODELS and "fake_models" not in sys.modules
            assert pc.MODELS.get("fake-blobs").__module__ == "fake_models"
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
