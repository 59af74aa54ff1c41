"""pytest-compress: hooks, options, the ``compress`` marker and the ``compress_check`` fixture.

Registration only: the check workflow is ``check.py``, the run's state ``session.py``. Loading
this module must not import torch (``pytest --help`` stays fast); everything heavy is imported
inside the fixture, on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_compress import extensions, options, progress, registries
from pytest_compress.report.properties import flat_properties
from pytest_compress.session import PROGRESS, PROPERTY, CompressSession
from pytest_compress.thresholds import Thresholds
from pytest_compress.validate import MARKER, check_markers, fail_bad_marker

if TYPE_CHECKING:
    from pytest_compress.check import CompressCheck

__all__ = ["RESULT_KEY", "SESSION_KEY", "CompressCheck", "StaleBaselineWarning", "compress_check"]  # noqa: F822


def __getattr__(name: str) -> Any:
    # The check workflow (and the baselines and gates it imports) loads with the first test that
    # uses it, not with pytest: `pytest --help` stays fast (bench/help_load_time.py).
    if name in ("RESULT_KEY", "CompressCheck", "StaleBaselineWarning"):
        from pytest_compress import check

        return getattr(check, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SESSION_KEY = pytest.StashKey[CompressSession]()
HTML_COLUMNS = "compress-pytest-html"  # the plugin object adding columns to pytest-html's table


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_compress import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, Any, Any]:
    # What the initial conftests register is this session's (registries.py).
    with registries.entered(registries.of(early_config)):
        return (yield)


@pytest.hookimpl(tryfirst=True)  # current before other plugins' pytest_configure register anything
def pytest_configure(config: pytest.Config) -> None:
    own = registries.of(config)
    registries.enter(own)
    config.add_cleanup(lambda: registries.leave(own))  # after pytest_unconfigure: reports use them
    config.addinivalue_line(
        "markers",
        f"{MARKER}(model=NAME, method=NAME, method_args={{...}}, <threshold>=VALUE, ...): a model-compression "
        f"case for the compress_check fixture; thresholds: {', '.join(Thresholds.names())}",
    )
    settings = options.read_settings(config)
    # Entry points declared, plugins' registrations and report formats added (hookspecs.py).
    extensions.configure(config, settings.reports)
    session = CompressSession.create(config, settings)
    config.stash[SESSION_KEY] = session
    # The session object carries the run-level hooks (collect results, write, summarise).
    config.pluginmanager.register(session, "compress-session")
    # One updating line per step on a TTY; an xdist worker's lines go to the controller with its
    # reports. Put back at cleanup (a nested pytester run ends first).
    previous = progress.set_output(session.progress_output(progress.TerminalOutput(config)))
    config.add_cleanup(lambda: progress.set_output(previous))
    if config.pluginmanager.hasplugin("html"):  # pytest-html: its results table gets our columns
        from pytest_compress.report.html_columns import PytestHtmlColumns

        config.pluginmanager.register(PytestHtmlColumns(), HTML_COLUMNS)


def pytest_unconfigure(config: pytest.Config) -> None:
    progress.finish()
    session = config.stash.get(SESSION_KEY, None)
    if session is not None and config.pluginmanager.is_registered(session):
        config.pluginmanager.unregister(session)
    columns = config.pluginmanager.get_plugin(HTML_COLUMNS)
    if columns is not None:
        config.pluginmanager.unregister(columns)


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter writes the outcome
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    progress.finish()  # a progress line left open by the test ends first


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    check_markers(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    fail_bad_marker(item)


@pytest.fixture
def compress_check(request: pytest.FixtureRequest) -> CompressCheck:
    """Measure a compression case (model + method from the ``compress`` marker or call keywords),
    gate it against thresholds and baselines, and fail this test with a one-line reason."""
    from pytest_compress.check import CompressCheck

    return CompressCheck(request.node, request.config.stash[SESSION_KEY])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    session = item.config.stash.get(SESSION_KEY, None)
    if session is not None and call.when in ("setup", "call"):  # not teardown: --junitxml writes its properties
        lines = session.take_progress()
        if lines:  # an xdist worker's progress lines, for the controller to print
            report.user_properties.append((PROGRESS, lines))
    check = sys.modules.get("pytest_compress.check")  # imported by the first compress_check, if any
    if call.when == "call" and check is not None and check.RESULT_KEY in item.stash:
        # On the report, the result survives the trip from an xdist worker to the controller.
        result = item.stash[check.RESULT_KEY]
        report.user_properties.append((PROPERTY, result.to_dict()))
        # Flat, readable numbers on the item: later reports copy them, and --junitxml writes the
        # teardown report's as <property> elements (report/properties.py). The blob above stays
        # on the call report only, out of the XML.
        item.user_properties.extend(flat_properties(result))
    return report
