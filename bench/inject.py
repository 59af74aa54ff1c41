"""Fault injection for ``bench/regression_power.py``: a pytest plugin (``-p bench.inject``) that
plants one real regression, named by ``$COMPRESS_INJECT``, into a built-in method or model, so
the suite runs its shipped path (marker -> compress_check -> gates) on a regressed product.

Each regression is *silent*: what the method reports about itself (config, details) is unchanged,
only what it does is worse — the way a real bug slips in.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import pytest

INJECTIONS = {
    "a": "int8-static calibrated on 8 images instead of 256",
    "b": "int4 group size 128 -> 256, config still says 128",
    "c": "pruning mask chosen at random instead of by magnitude, same sparsity",
    "d": "int8 weights serialized as float32",
    "e": "compressed forward made 10% slower",
    "f": "eval set changed (first example dropped) under an identical artifact",
    "g": "compressed forward made 33% slower",
}
ENV = "COMPRESS_INJECT"
SLOWDOWN = {"e": 0.10, "g": 0.33}


@pytest.hookimpl(trylast=True)  # after pytest-compress declared its built-ins
def pytest_configure(config: pytest.Config) -> None:
    key = os.environ.get(ENV, "")
    if not key:
        return
    if key not in INJECTIONS:
        raise pytest.UsageError(f"{ENV}={key!r}: choose one of {', '.join(INJECTIONS)}")
    globals()[f"_inject_{key}"]()


def _wrap_method(name: str, wrap: Any) -> None:
    from pytest_compress.spec import METHODS, Method

    original = METHODS.get(name)
    METHODS.replace(name, Method(name=name, config_type=original.config_type, apply=wrap(original.apply)))


def _inject_a() -> None:
    def wrap(apply: Any) -> Any:
        def few_calibration_images(model, config, ctx):  # noqa: ANN001, ANN202
            out = apply(model, config, dataclasses.replace(ctx, calib_data=ctx.calib_data[:8]))
            out.results = tuple(  # says 256, as before
                dataclasses.replace(r, examples=config.calibration_examples) if r.kind == "calibration" else r
                for r in out.results
            )
            return out

        return few_calibration_images

    _wrap_method("int8-static", wrap)


def _inject_b() -> None:
    def wrap(apply: Any) -> Any:
        def bigger_groups(model, config, ctx):  # noqa: ANN001, ANN202
            return apply(model, dataclasses.replace(config, group_size=256), ctx)

        return bigger_groups

    _wrap_method("int4-weight-only", wrap)


def _inject_c() -> None:
    import torch

    from pytest_compress.methods import pruning

    magnitude = pruning.global_magnitude_masks

    def random_masks(weights, sparsity):  # noqa: ANN001, ANN202
        g = torch.Generator().manual_seed(0)
        return magnitude([torch.rand(w.shape, generator=g) for w in weights], sparsity)

    pruning.global_magnitude_masks = random_masks


def _inject_d() -> None:
    from pytest_compress.formats.dense import dense_payload
    from pytest_compress.spec import Artifact

    def wrap(apply: Any) -> Any:
        def float_payload(model, config, ctx):  # noqa: ANN001, ANN202
            quantized = apply(model, config, ctx)  # quantize_dynamic returns a copy: model stays float
            return Artifact(module=quantized, payload=dense_payload(model), encoding="torch.save(state_dict)")

        return float_payload

    _wrap_method("int8-dynamic", wrap)


def _inject_e(slowdown: float = SLOWDOWN["e"]) -> None:
    import torch

    class Slower(torch.nn.Module):
        """Runs the model, then busy-waits ``slowdown`` of that forward's own time."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            start = time.perf_counter()
            out = self.inner(*args)
            until = start + (time.perf_counter() - start) * (1 + slowdown)
            while time.perf_counter() < until:
                pass
            return out

    def wrap(apply: Any) -> Any:
        def slower(model, config, ctx):  # noqa: ANN001, ANN202
            out = apply(model, config, ctx)
            if hasattr(out, "payload"):
                out.module = Slower(out.module)
                return out
            return Slower(out)

        return slower

    _wrap_method("int8-static", wrap)


def _inject_g() -> None:
    _inject_e(SLOWDOWN["g"])  # the example: every quantized conv run twice measured +33%


def _inject_f() -> None:
    from pytest_compress.spec import MODELS

    def fewer_examples(original: Any) -> Any:
        def spec():  # noqa: ANN202
            s = original()
            x, y = s.eval_data
            return dataclasses.replace(s, eval_data=(x[1:], y[1:]))

        return spec

    MODELS.replace("digits-vit", fewer_examples(MODELS.get("digits-vit")))
