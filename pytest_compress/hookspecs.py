"""Hooks a conftest.py or a plugin implements to extend pytest-compress.

Added to pytest by ``pytest_addhooks`` in ``plugin.py``; implement one by defining a function of
the same name (the arguments you take are the ones you get, as with every pytest hook). Each
hook says where the plugin calls it; ``extensions.py`` holds the calling side.

Loading this module must not import torch: the types below are for annotations only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_compress.extensions import Registrar
    from pytest_compress.fingerprint import Fingerprint
    from pytest_compress.report.rows import Row
    from pytest_compress.report.writers import ReportWriter
    from pytest_compress.results import CaseResult
    from pytest_compress.thresholds import Gate, Thresholds

hookspec = pytest.hookspec


@hookspec(historic=True)
def pytest_compress_register(register: Registrar, config: pytest.Config) -> None:
    """Register models, methods and metrics with ``register`` (called once per plugin, at
    ``pytest_configure``, and for a conftest registered later, when it is registered).

    The same as the decorators (``pytest_compress.register_model`` ...), without doing it at
    import time: a plugin can decide from ``config`` what to register. A name already registered
    is a usage error naming both places; ``override=True`` replaces on purpose.

    Example (conftest.py)::

        def pytest_compress_register(register):
            from my_models import tiny_mlp_spec, halve, TOP2

            register.model("tiny-mlp", tiny_mlp_spec)        # a function returning a ModelSpec
            register.method("halve", halve)                  # apply(model, config, ctx)
            register.metric(TOP2)                            # a pytest_compress.Metric
    """


def pytest_compress_report_formats(config: pytest.Config) -> Mapping[str, ReportWriter] | None:
    """Return report formats to add, ``{name: write}``; ``write(rows, header) -> str`` receives
    the finished rows and returns the file's text, which ``--compress-report=NAME:PATH`` writes
    (atomically) at the end of the session. Called at ``pytest_configure``, so ``NAME`` is a
    valid ``--compress-report`` format from the start. A name taken (``json``, ``md``, ``term``,
    another plugin's) is a usage error naming both.

    Example (conftest.py)::

        def pytest_compress_report_formats(config):
            def csv(rows, header):
                return "".join(f"{r.test_id},{r.method},{r.verdict}\\n" for r in rows)
            return {"csv": csv}

    then ``pytest --compress-report=csv:compress.csv``.
    """


def pytest_compress_fingerprint(config: pytest.Config, fingerprint: Fingerprint) -> Mapping[str, Any] | None:
    """Return facts to add to the machine fingerprint that keys latency baselines (a GPU driver, a
    power profile, a container limit): ``{name: value}``, values made strings. The facts of all
    implementations are merged into ``Fingerprint.extra``, so they change the latency baseline's
    file name (``baselines/latency/<slug>.json``): timings taken under other facts are never
    compared. Called for every case, before its baselines are read.

    Example (conftest.py)::

        import os

        def pytest_compress_fingerprint(config, fingerprint):
            return {"power_profile": os.environ.get("POWER_PROFILE", "default")}
    """


def pytest_compress_json_row(config: pytest.Config, row: Row, data: dict[str, Any]) -> None:
    """Amend ``data``, the JSON report's row for ``row``, in place (add a key, drop one). Called once
    per finished row at the end of the session; ``--compress-report=json:PATH`` writes ``data``,
    and every report format reads it as ``row.to_dict()``.

    Example (conftest.py)::

        import os

        def pytest_compress_json_row(config, row, data):
            data["ci_job"] = os.environ.get("CI_JOB_ID", "local")
    """


def pytest_compress_gates(item: pytest.Item, result: CaseResult, thresholds: Thresholds) -> Iterable[Gate] | None:
    """Return more gates for this case: ``pytest_compress.Gate(name, ok, message)``. Called after the
    built-in gates decided, with the measured ``result`` and the case's ``thresholds``; a gate
    that is not ``ok`` fails the test with its message, like a built-in one, and its name is
    listed with the verdict's checked limits. A conftest's implementation gates only the tests below it.

    Example (conftest.py)::

        import pytest_compress

        def pytest_compress_gates(item, result):
            small = result.size.compressed_bytes <= 64_000
            return [pytest_compress.Gate("max-bytes", small,
                                         f"compressed {result.size.compressed_bytes} B > 64000 B")]
    """
