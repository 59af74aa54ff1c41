"""pytest-compress: measure what model compression costs, and catch when that changes.

Public API (importing it does not import torch)::

    import pytest_compress as pc

    @pc.register_model("my-model")        # -> returns a pc.ModelSpec
    @pc.register_method("my-method", config=MyConfig)   # apply(model, config, ctx) -> nn.Module | pc.Artifact
    pc.register_format(MyFormat())        # a pc.Format: encode, decode, stored (Linear-weight accounting)
    pc.register_metric(pc.Metric(...))    # a ModelSpec may then name it: metric="my-metric"
    @pc.register_reporter("csv")          # write(rows, header) -> str, for --compress-report=csv:PATH

Hooks (``hookspecs.py``) and entry-point groups (``entrypoints.py``): README "Extending".
"""

from __future__ import annotations

from pytest_compress.formats import Format, FormatError, StoredTensor, get_format, register_format
from pytest_compress.progress import report as report_progress
from pytest_compress.report.rows import Row
from pytest_compress.report.writers import REPORTERS, register_reporter
from pytest_compress.results import (
    AdapterResult,
    CalibrationResult,
    CaseResult,
    DistillationResult,
    MethodResult,
    SparsityResult,
    StorageResult,
)
from pytest_compress.spec import (
    ACCURACY,
    METHODS,
    METRICS,
    MODELS,
    Artifact,
    Method,
    MethodConfig,
    MethodContext,
    Metric,
    ModelSpec,
    NoConfig,
    NotApplicable,
    register_method,
    register_metric,
    register_model,
)
from pytest_compress.thresholds import Gate, Thresholds

__version__ = "0.1.0"
__all__ = [
    "ACCURACY",
    "METHODS",
    "METRICS",
    "MODELS",
    "REPORTERS",
    "AdapterResult",
    "Artifact",
    "CalibrationResult",
    "CaseResult",
    "DistillationResult",
    "Format",
    "FormatError",
    "Gate",
    "Method",
    "MethodConfig",
    "MethodContext",
    "MethodResult",
    "Metric",
    "ModelSpec",
    "NoConfig",
    "NotApplicable",
    "Row",
    "SparsityResult",
    "StorageResult",
    "StoredTensor",
    "Thresholds",
    "get_format",
    "register_format",
    "register_method",
    "register_metric",
    "register_model",
    "register_reporter",
    "report_progress",
]
