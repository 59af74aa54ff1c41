"""Built-in compression methods, one module per family.

Each family module registers its methods with :func:`pytest_compress.register_method` when it is
imported, exactly as a user's conftest does. This package only *declares* the names (the
registry reads ``BUILTIN`` on first use) and imports nothing, so loading the plugin does not
import torch.
"""

from __future__ import annotations

BUILTIN = {
    "int8-dynamic": (
        "pytest_compress.methods.quantization",
        "dynamic-range int8: int8 weights, activations quantized on the fly",
    ),
    "int8-static": (
        "pytest_compress.methods.quantization",
        "full-integer int8 with a calibration set (x86/fbgemm)",
    ),
    "prune-unstructured": (
        "pytest_compress.methods.pruning",
        "global magnitude pruning, made permanent, sparse-encoded",
    ),
    "prune-structured": (
        "pytest_compress.methods.structured",
        "channels physically removed (Torch-Pruning dependency graph), optional fine-tune",
    ),
    "prune-semistructured": (
        "pytest_compress.methods.pruning",
        "N:M (2:4) sparsity by magnitude or Wanda, made permanent, sparse-encoded",
    ),
    "int8-weight-only": ("pytest_compress.methods.weight_only", "int8 Linear weights per channel (torchao)"),
    "int4-weight-only": (
        "pytest_compress.methods.weight_only",
        "int4 Linear weights per group (torchao), shipped two per byte",
    ),
    "quantize-lora": (
        "pytest_compress.methods.qlora",
        "weight-only int4/int8 base + LoRA adapters (peft) trained to recover quality",
    ),
    "fp16": ("pytest_compress.methods.precision", "weights stored as float16"),
    "bf16": ("pytest_compress.methods.precision", "weights stored as bfloat16"),
    "lowrank": ("pytest_compress.methods.lowrank", "truncated-SVD factorisation of Linear layers"),
    "cluster": ("pytest_compress.methods.clustering", "k-means weight sharing: codebook + packed indices"),
    "distill": ("pytest_compress.methods.distillation", "knowledge distillation into the model's student"),
    "pipeline": ("pytest_compress.methods.pipeline", "registered methods applied in sequence (hybrids)"),
}


def declare_builtins() -> None:
    """Declare the built-in methods now. The registry reads ``BUILTIN`` on first use anyway (this
    package imports nothing, so the registry can); kept for scripts that call it."""
    from pytest_compress.spec import METHODS

    for name, (module, summary) in BUILTIN.items():
        METHODS.declare(name, module, summary)
