"""The ``top2`` metric: the target is among the two highest-scoring classes."""

from __future__ import annotations

import pytest_compress as pc


def _top2(outputs, targets):  # noqa: ANN001, ANN202 - tensors; torch is not imported here
    return (outputs.topk(2, dim=-1).indices == targets[:, None]).any(dim=-1).float()


TOP2 = pc.register_metric(
    pc.Metric(
        name="top2",
        unit="fraction",
        higher_is_better=True,
        score=_top2,
        definition="fraction of examples whose target is among the two highest outputs",
    )
)
