"""pytest-compress: measure what model compression costs, and catch when that changes.

Public API (importing it does not import torch)::

    import pytest_compress as pc

    @pc.register_model("my-model")        # -> returns a pc.ModelSpec
    @pc.register_method("my-method", config=MyConfig)   # apply(model, config, ctx) -> nn.Module | pc.Artifact
"""

from __future__ import annotations

from pytest_compress.progress import report as report_progress
from pytest_compress.results import CaseResult
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
    "Artifact",
    "CaseResult",
    "Method",
    "MethodConfig",
    "MethodContext",
    "Metric",
    "ModelSpec",
    "NoConfig",
    "NotApplicable",
    "Thresholds",
    "register_method",
    "register_model",
    "report_progress",
]
