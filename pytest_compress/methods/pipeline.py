"""Hybrid pipelines: registered methods applied in sequence, e.g. structured pruning then int8.

Each step receives the previous step's module; the last step's artifact is what ships. A
pipeline is a composition of registered methods, configured like any other method::

    method="pipeline", method_args={"steps": [["prune-structured", {"ratio": 0.5}], ["int8-static", {}]]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from pytest_compress.formats import DENSE
from pytest_compress.formats.dense import dense_payload
from pytest_compress.results import MethodResult
from pytest_compress.spec import METHODS, Artifact, MethodConfig, MethodContext, register_method


@dataclass(frozen=True)
class PipelineConfig(MethodConfig):
    steps: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        steps = tuple((str(name), dict(args or {})) for name, args in self.steps)
        if len(steps) < 2:
            raise ValueError("pipeline: give at least two steps, e.g. [['prune-structured', {}], ['int8-static', {}]]")
        for name, args in steps:
            if name == "pipeline":
                raise ValueError("pipeline: steps cannot be pipelines themselves")
            METHODS.get(name).make_config(args)  # unknown names / options fail here, at config time
        object.__setattr__(self, "steps", tuple((n, tuple(sorted(a.items()))) for n, a in steps))

    def label(self) -> str:
        return " -> ".join(
            f"{name}({','.join(f'{k}={v}' for k, v in args)})" if args else name for name, args in self.steps
        )


@register_method("pipeline", config=PipelineConfig)
def pipeline(model: nn.Module, config: PipelineConfig, ctx: MethodContext) -> Artifact:
    """Apply registered methods one after another; ship the last one's artifact."""
    details: dict[str, Any] = {}
    results: tuple[MethodResult, ...] = ()
    artifact: Artifact | None = None
    for i, (name, args) in enumerate(config.steps):
        method = METHODS.get(name)
        out = method.apply(model, method.make_config(dict(args)), ctx)
        artifact = out if isinstance(out, Artifact) else Artifact(out, dense_payload(out), DENSE)
        details.update({f"step{i + 1}.{k}": v for k, v in artifact.details.items()})
        results += tuple(artifact.results)  # typed reports keep their type; a later step's wins
        model = artifact.module
    assert artifact is not None
    return Artifact(
        module=artifact.module, payload=artifact.payload, encoding=artifact.encoding, details=details, results=results
    )
