"""pytest-compress: measure what model compression costs, and catch when that changes.

Public API (importing it does not import torch)::

    import pytest_compress as pc

    @pc.register_model("my-model")        # -> returns a pc.ModelSpec
    @pc.register_method("my-method", config=MyConfig)   # apply(model, config, ctx) -> nn.Module | pc.Artifact
    pc.register_format(MyFormat())        # a pc.Format: encode, decode, stored (Linear-weight accounting)
"""

from __future__ import annotations

from pytest_compress.formats import Format, FormatError, StoredTensor, get_format, register_format
from pytest_compress.progress import report as report_progress
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
    register_model,
)
from pytest_compress.thresholds import Thresholds

__version__ = "0.1.0"
__all__ = [
    "ACCURACY",
    "METHODS",
    "MODELS",
    "AdapterResult",
    "Artifact",
    "CalibrationResult",
    "CaseResult",
    "DistillationResult",
    "Format",
    "FormatError",
    "Method",
    "MethodConfig",
    "MethodContext",
    "MethodResult",
    "Metric",
    "ModelSpec",
    "NoConfig",
    "NotApplicable",
    "SparsityResult",
    "StorageResult",
    "StoredTensor",
    "Thresholds",
    "get_format",
    "register_format",
    "register_method",
    "register_model",
    "report_progress",
]
