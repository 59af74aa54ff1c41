"""Quantization family: dynamic-range int8 and static (calibrated) full-integer int8.

Both use torch.ao's eager / FX quantization, which is deprecated in favour of torchao's PT2E
flow but is, on this AVX2-only CPU, the path whose int8 kernels (fbgemm/x86) are actually fast
without torch.compile. The artifacts are real quantized modules with packed int8 weights.

Dynamic int8 covers recurrent layers too: torch.ao has dynamic int8 kernels for GRU and LSTM
(and the GRU/LSTM/RNN cells), and they are in the default layer set. A plain ``nn.RNN`` has no
such kernel: a model holding one outside ``keep_float`` is refused by name rather than shipped
with float recurrent weights under an int8 label.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.formats import DENSE, PT2E
from pytest_compress.formats.dense import PT2E_FORMAT, dense_payload
from pytest_compress.results import CalibrationResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method

_LAYER_TYPES = {
    "Linear": nn.Linear,
    "LSTM": nn.LSTM,
    "GRU": nn.GRU,
    "LSTMCell": nn.LSTMCell,
    "GRUCell": nn.GRUCell,
    "RNNCell": nn.RNNCell,
}
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


@contextlib.contextmanager
def quantized_engine(backend: str) -> Iterator[None]:
    """``torch.backends.quantized.engine`` set to ``backend`` inside, restored after: the engine is
    process-wide, and a method must not leave the next case (or the user's code) on its choice."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = backend
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


@dataclass(frozen=True)
class Int8DynamicConfig(MethodConfig):
    layers: tuple[str, ...] = ("Linear", "LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell")

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        bad = [x for x in self.layers if x not in _LAYER_TYPES]
        if bad or not self.layers:
            raise ValueError(f"int8-dynamic: layers must be a non-empty subset of {sorted(_LAYER_TYPES)}, got {bad}")


@register_method("int8-dynamic", config=Int8DynamicConfig)
def int8_dynamic(model: nn.Module, config: Int8DynamicConfig, ctx: MethodContext) -> nn.Module:
    """Dynamic-range int8: int8 weights; activations quantized per batch at run time."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    kinds = tuple(_LAYER_TYPES[x] for x in config.layers)
    _check_coverage(model, config, kinds, ctx.keep_float)
    spec: set | dict = set(kinds)
    if ctx.keep_float:  # by name, so the layers the model keeps in float (an LM's head) stay float
        spec = {n: default_dynamic_qconfig for n, m in model.named_modules() if isinstance(m, kinds)}
        spec = {n: q for n, q in spec.items() if n not in ctx.keep_float}
    with quiet_torch_ao():
        return quantize_dynamic(model.eval(), spec, dtype=torch.qint8)


def _check_coverage(
    model: nn.Module, config: Int8DynamicConfig, kinds: tuple[type, ...], keep: tuple[str, ...]
) -> None:
    """Refuse, naming them, what dynamic int8 would silently leave in float: a plain nn.RNN (no
    torch.ao kernel), or a model with no layer of the chosen types at all."""
    from pytest_compress.methods.pruning import describe

    modules = [(n, m) for n, m in model.named_modules() if n not in keep]
    plain_rnn = [(n, m) for n, m in modules if type(m) is nn.RNN]
    if plain_rnn:
        raise NotApplicable(
            f"int8-dynamic cannot quantize {describe(plain_rnn)}: torch.ao has dynamic int8 kernels for "
            "Linear, LSTM, GRU and the recurrent cells only (name the layer in ModelSpec.keep_float to keep it float)"
        )
    # quantize_dynamic matches exact types, so a subclass (MultiheadAttention's out_proj) is not a target
    if not any(type(m) in kinds for _, m in modules):
        held = [(n, m) for n, m in modules if any(p.dim() >= 2 for p in m.parameters(recurse=False))]
        raise NotApplicable(
            f"int8-dynamic: no {', '.join(config.layers)} layer to quantize; "
            f"the model's weights sit in {describe(held)}"
        )


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

    Eager mode (torch.ao, x86/fbgemm kernels) for models written for it — a ``fuse_model()``
    method and Quant/DeQuant stubs, like torchvision's quantizable models. Any other model goes
    through PT2E: ``torch.export`` -> torchao's X86InductorQuantizer -> ``torch.compile`` with
    freezing, which is what makes PT2E int8 fast on this CPU (compile time is in the details).
    """
    if ctx.calib_data is None:
        raise ValueError("int8-static needs calibration inputs: give the ModelSpec calib_data or train_data")
    if not hasattr(ctx.calib_data, "shape"):
        raise NotApplicable("int8-static calibrates on one tensor of inputs, not a sequence of variable-length ones")
    calib = ctx.calib_data[: config.calibration_examples]
    model.eval()
    if hasattr(model, "fuse_model"):
        return _eager_static(model, config, calib)
    return _pt2e_static(model, config, calib, ctx)


def _eager_static(model: nn.Module, config: Int8StaticConfig, calib: torch.Tensor) -> Artifact:
    import torch.ao.quantization as tq

    with quantized_engine(config.backend), quiet_torch_ao():
        model.fuse_model()
        model.qconfig = tq.get_default_qconfig(config.backend)
        tq.prepare(model, inplace=True)
        _calibrate(model, calib, config.calibration_batch)
        quantized = tq.convert(model, inplace=False)
    return Artifact(
        module=quantized,
        payload=dense_payload(quantized),
        encoding=DENSE,
        results=(CalibrationResult(examples=len(calib), mode="eager", backend=config.backend),),
    )


def _pt2e_static(model: nn.Module, config: Int8StaticConfig, calib: torch.Tensor, ctx: MethodContext) -> Artifact:
    import time

    import torch._inductor.config as inductor_config
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    example = calib[: config.calibration_batch]
    try:
        batch = torch.export.Dim("batch", min=1, max=4096)
        exported = torch.export.export(model, (example,), dynamic_shapes=({0: batch},)).module()
    except Exception as exc:  # export needs a graph without data-dependent Python control flow
        raise NotApplicable(f"torch.export cannot capture it ({type(exc).__name__}: {str(exc)[:120]})") from exc
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    _calibrate(prepared, calib, config.calibration_batch)
    converted = convert_pt2e(prepared)
    # Exported graphs refuse .eval(); this one has no dropout/batchnorm left to switch, and the
    # harness calls .eval() on every artifact.
    allow_exported_model_train_eval(converted)
    drop_unused_attributes(converted)
    payload = PT2E_FORMAT.encode(converted.state_dict())
    start = time.perf_counter()
    compiled = torch.compile(converted)
    # Freezing folds the int8 weights into the compiled kernels; compilation is lazy, so the first
    # call (batch 1, like deployment) happens here, under the flag.
    with torch.no_grad(), inductor_config.patch(freezing=True), warnings.catch_warnings():
        # Inductor's own int8 lowering copy-constructs a tensor and warns about it: nothing a
        # user of this method can act on.
        warnings.filterwarnings("ignore", message=r"To copy construct from a tensor", module=r"torch\._inductor")
        compiled(*(t[:1] for t in ctx.example_inputs))
    return Artifact(
        module=compiled,
        payload=payload,
        encoding=PT2E,
        details={"compile_seconds": round(time.perf_counter() - start, 1)},
        results=(CalibrationResult(examples=len(calib), mode="pt2e+inductor"),),
    )


def drop_unused_attributes(gm: torch.fx.GraphModule) -> None:
    """Delete parameters and buffers the quantized graph no longer reads (the float copies of
    weights that now live as int8 constants), so the state dict is exactly what the graph needs."""
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name, _ in list(gm.named_parameters()) + list(gm.named_buffers()):
        if name not in used and not any(u.startswith(name + ".") for u in used):
            owner, _, attr = name.rpartition(".")
            delattr(gm.get_submodule(owner) if owner else gm, attr)


def _calibrate(model: nn.Module, inputs: torch.Tensor, batch: int) -> None:
    with torch.no_grad():
        for start in range(0, len(inputs), batch):
            model(inputs[start : start + batch])
