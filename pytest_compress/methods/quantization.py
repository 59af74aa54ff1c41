"""Quantization family: dynamic-range int8 and static (calibrated) full-integer int8.

Both use torch.ao's eager / FX quantization, which is deprecated in favour of torchao's PT2E
flow but is, on this AVX2-only CPU, the path whose int8 kernels (fbgemm/x86) are actually fast
without torch.compile. The artifacts are real quantized modules with packed int8 weights.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.spec import MethodConfig, MethodContext, NotApplicable, register_method

_LAYER_TYPES = {"Linear": nn.Linear, "LSTM": nn.LSTM, "GRU": nn.GRU}
_BACKENDS = ("x86", "fbgemm", "qnnpack")


@contextlib.contextmanager
def quiet_torch_ao() -> Iterator[None]:
    """Silence torch.ao's own deprecation and observer-range warnings, and only those.

    They fire on every call ("torch.ao.quantization is deprecated", "Please use quant_min and
    quant_max", "quantized tensor ... deprecated") and tell the user nothing they can act on:
    the choice of torch.ao is this module's, documented above.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"Please use quant_min and quant_max", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        # torchvision's quantizable blocks own a FloatFunctional for the residual add even where
        # there is no residual; its observer never runs and torch.ao warns at convert time.
        warnings.filterwarnings("ignore", message=r"must run observer before calling calculate_qparams")
        yield


@dataclass(frozen=True)
class Int8DynamicConfig(MethodConfig):
    layers: tuple[str, ...] = ("Linear", "LSTM", "GRU")

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        bad = [x for x in self.layers if x not in _LAYER_TYPES]
        if bad or not self.layers:
            raise ValueError(f"int8-dynamic: layers must be a non-empty subset of {sorted(_LAYER_TYPES)}, got {bad}")


@register_method("int8-dynamic", config=Int8DynamicConfig)
def int8_dynamic(model: nn.Module, config: Int8DynamicConfig, ctx: MethodContext) -> nn.Module:
    """Dynamic-range int8: int8 weights; activations quantized per batch at run time."""
    from torch.ao.quantization import quantize_dynamic

    with quiet_torch_ao():
        return quantize_dynamic(model.eval(), {_LAYER_TYPES[x] for x in config.layers}, dtype=torch.qint8)


@dataclass(frozen=True)
class Int8StaticConfig(MethodConfig):
    calibration_examples: int = 256
    backend: str = "x86"
    calibration_batch: int = 64

    def __post_init__(self) -> None:
        if self.calibration_examples < 1 or self.calibration_batch < 1:
            raise ValueError("int8-static: calibration_examples and calibration_batch must be >= 1")
        if self.backend not in _BACKENDS:
            raise ValueError(f"int8-static: backend must be one of {_BACKENDS}, got {self.backend!r}")


@register_method("int8-static", config=Int8StaticConfig)
def int8_static(model: nn.Module, config: Int8StaticConfig, ctx: MethodContext):
    """Full-integer int8 with observers calibrated on real inputs.

    Eager mode for models written for it (a ``fuse_model()`` method and Quant/DeQuant stubs,
    like torchvision's quantizable models); FX graph mode for any other traceable model.
    """
    import torch.ao.quantization as tq
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from pytest_compress.serialize import dense_payload
    from pytest_compress.spec import Artifact

    if ctx.calib_data is None:
        raise ValueError("int8-static needs calibration inputs: give the ModelSpec calib_data or train_data")
    calib = ctx.calib_data[: config.calibration_examples]
    torch.backends.quantized.engine = config.backend
    model.eval()
    with quiet_torch_ao():
        if hasattr(model, "fuse_model"):
            mode = "eager"
            model.fuse_model()
            model.qconfig = tq.get_default_qconfig(config.backend)
            tq.prepare(model, inplace=True)
            _calibrate(model, calib, config.calibration_batch)
            quantized = tq.convert(model, inplace=False)
        else:
            mode = "fx"
            qmap = tq.get_default_qconfig_mapping(config.backend)
            try:
                prepared = prepare_fx(model, qmap, tuple(t[:1] for t in ctx.example_inputs))
            except Exception as exc:  # symbolic tracing fails on data-dependent Python control flow
                raise NotApplicable(
                    f"no fuse_model() for eager mode and FX graph mode cannot trace it ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:120]}); PT2E (torch.export + torch.compile) is not wired in yet"
                ) from exc
            _calibrate(prepared, calib, config.calibration_batch)
            quantized = convert_fx(prepared)
    return Artifact(
        module=quantized,
        payload=dense_payload(quantized),
        encoding="torch.save(state_dict)",
        details={"calibration_examples": len(calib), "quantization_mode": mode, "backend": config.backend},
    )


def _calibrate(model: nn.Module, inputs: torch.Tensor, batch: int) -> None:
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            model(inputs[start : start + batch])
