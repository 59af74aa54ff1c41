"""Quantize-then-LoRA: recover what weight-only quantization cost with low-rank adapters.

1. The base's Linear weights are quantized weight-only (int4 per group or int8 per channel,
   :mod:`pytest_compress.methods.weight_only`, torchao) and frozen.
2. peft injects LoRA adapters (rank ``rank``, ``lora_alpha``; B initialised to zero, so at the
   start the model computes exactly the quantized base) into the same layers — peft wraps
   torchao-quantized Linears itself (``TorchaoLoraLinear``).
3. Only the adapters train, briefly, on the model's training data (next-token cross-entropy),
   cached like every other method-trained weight.

The artifact is one weight-only-v1 file holding the packed base and the float32 adapters
(shipped unmerged: merging would need the float weights back). Its
:class:`~pytest_compress.results.AdapterResult` reports the metric of the reference, of the
quantized base alone and with adapters, and what the adapters cost in bytes and parameters.
Because adapters also keep *training* the model, "better than the reference" can be plain extra
training rather than recovery; so a control trains the same adapters, same steps and data, on
the *float* base (``control=True``), and the recovery is measured against it:
``recovered_fraction`` = (quantized - quantized+LoRA) / (quantized - control). 1 means the
adapters took the quantized model all the way to where the same adapters take the float model.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.cache import source_of
from pytest_compress.formats import WEIGHT_ONLY_LORA
from pytest_compress.formats.weight_only import WEIGHT_ONLY_LORA_FORMAT
from pytest_compress.methods.weight_only import quantizable_linears, quantize_weights
from pytest_compress.results import AdapterResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method
from pytest_compress.training import LMSettings, fit_lm


@dataclass(frozen=True)
class QuantizeLoraConfig(MethodConfig):
    label_fields = ("bits",)
    bits: int = 4
    group_size: int = 64  # int4 only; int8 is per channel
    rank: int = 8
    alpha: int = 16
    steps: int = 60
    lr: float = 2e-3
    batch_size: int = 16
    control: bool = True  # also train the same adapters on the float base (see module doc)

    def __post_init__(self) -> None:
        if self.bits not in (4, 8):
            raise ValueError(f"quantize-lora: bits must be 4 or 8, got {self.bits}")
        if self.rank < 1 or self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("quantize-lora: rank, steps, batch_size must be >= 1 and lr > 0")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _adapters(model: nn.Module) -> nn.ModuleDict:
    """The LoRA A/B layers, under stable names (a module of plain float tensors, cacheable)."""
    found = {
        name.replace(".", "/"): m
        for name, m in model.named_modules()
        if name.endswith(("lora_A.default", "lora_B.default")) and isinstance(m, nn.Linear)
    }
    if not found:
        raise RuntimeError("quantize-lora: peft injected no adapters")
    return nn.ModuleDict(found)


def _with_adapters(
    model: nn.Module,
    names: list[str],
    config: QuantizeLoraConfig,
    settings: LMSettings,
    ctx: MethodContext,
    label: str,
    key: dict,
) -> tuple[nn.Module, list[nn.Parameter], str]:
    """Inject LoRA adapters into ``names`` and train only them (or load identical earlier training)."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=names, bias="none")
    torch.manual_seed(ctx.seed)  # the same initial adapters for the control and the quantized base
    with warnings.catch_warnings():
        # peft warns that merge() would need the requantization recipe; adapters ship unmerged here.
        warnings.filterwarnings("ignore", message=r"TorchaoLoraLinear was instantiated without")
        model = inject_adapter_in_model(lora, model)
    for name, p in model.named_parameters():
        p.requires_grad = "lora_" in name
    adapters = _adapters(model)
    params = list(adapters.parameters())
    source = ctx.trained(
        label,
        adapters,
        lambda _: fit_lm(model, ctx.train_data, settings, name=f"{label}(bits={config.bits})", params=params),
        key=key,
    )
    model.eval()
    return model, params, source


@register_method("quantize-lora", config=QuantizeLoraConfig)
def quantize_lora(model: nn.Module, config: QuantizeLoraConfig, ctx: MethodContext) -> Artifact:
    """Weight-only int4/int8 base, frozen, plus LoRA adapters trained on the model's training data."""
    if ctx.train_data is None or ctx.train_data[1].dim() != 2:
        raise NotApplicable("quantize-lora trains on next-token data: needs train_data with (batch, time) targets")
    if ctx.evaluate is None:
        raise NotApplicable("quantize-lora reports recovery: needs the model's evaluation")
    reference_metric = ctx.evaluate(model)
    settings = LMSettings(
        steps=config.steps, lr=config.lr, batch_size=config.batch_size, warmup=max(1, config.steps // 10), seed=ctx.seed
    )
    # Cache keys: what the trained adapters depend on. The control (float base) does not depend on
    # the quantization, so int4 and int8 runs share it; the quantized run depends on all of it,
    # including the quantizer's and peft's versions.
    adapter_cfg = {k: v for k, v in config.fields_dict().items() if k not in ("bits", "group_size", "control")}
    code = source_of(_with_adapters, fit_lm)
    control_metric = None
    if config.control:
        control = copy.deepcopy(model)
        names = quantizable_linears(control, ctx.keep_float, config.group_size if config.bits == 4 else None)
        control_key = {"adapters": adapter_cfg, "layers": names, "code": code, "peft": _version("peft")}
        _with_adapters(control, names, config, settings, ctx, "quantize-lora-control", control_key)
        control_metric = ctx.evaluate(control)
        del control
    names = quantize_weights(
        model,
        bits=config.bits,
        group_size=config.group_size if config.bits == 4 else None,
        symmetric=config.bits == 8,
        scale_dtype="float16" if config.bits == 4 else "float32",
        keep_float=ctx.keep_float,
    )
    quantized_metric = ctx.evaluate(model)
    key = {
        "adapters": adapter_cfg,
        "quantization": {"bits": config.bits, "group_size": config.group_size if config.bits == 4 else None},
        "layers": names,
        "code": code + source_of(quantize_weights),
        "peft": _version("peft"),
        "torchao": _version("torchao"),
    }
    model, params, source = _with_adapters(model, names, config, settings, ctx, "quantize-lora", key)
    lora_metric = ctx.evaluate(model)
    payload = WEIGHT_ONLY_LORA_FORMAT.encode(model.state_dict())
    stored = WEIGHT_ONLY_LORA_FORMAT.stored(payload)
    adapter_bytes = sum(t.nbytes for name, t in stored.items() if "lora_" in name)
    reachable = quantized_metric - (control_metric if control_metric is not None else reference_metric)
    report = AdapterResult(
        reference_metric=round(reference_metric, 6),
        quantized_metric=round(quantized_metric, 6),
        lora_metric=round(lora_metric, 6),
        control_metric=round(control_metric, 6) if control_metric is not None else None,
        # Share of the gap to the control (or, without one, to the reference) the adapters closed.
        recovered_fraction=round((quantized_metric - lora_metric) / reachable, 4) if reachable else None,
        adapter_bytes=adapter_bytes,
        adapter_params=sum(p.numel() for p in params),
    )
    return Artifact(
        module=model,
        payload=payload,
        encoding=WEIGHT_ONLY_LORA,
        details={"adapter_training": source},
        results=(report,),
    )
