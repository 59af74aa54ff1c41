"""sklearn's handwritten digits (1,797 real 8x8 scans, shipped with scikit-learn).

Fixed stratified split: 1,437 train / 360 test (``random_state=0``). Pixel values scaled to
[0, 1]. ResNet-18 sees them bilinearly upsampled to 32x32 and repeated to 3 channels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pytest_compress.spec import ModelSpec, register_model
from pytest_compress.training import TrainSettings, fit

SPLIT_SEED = 0
TEST_FRACTION = 0.2


@functools.cache
def digits(size: int = 8, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test) as float32 NCHW tensors."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y)

    def prep(a):  # noqa: ANN001
        t = torch.tensor(a, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
        if size != 8:
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        return t.repeat(1, channels, 1, 1).contiguous()

    return prep(x_tr), torch.tensor(y_tr), prep(x_te), torch.tensor(y_te)


class DigitsCNN(nn.Module):
    """Three conv blocks and a two-layer head, written for eager quantization (stubs + fuse_model).

    ``width`` scales every layer (the default 32 is the teacher; 8 makes the distillation student).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, in_channels: int = 1) -> None:
        super().__init__()
        from torch.ao.quantization import DeQuantStub, QuantStub

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        w = width
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.features = nn.Sequential(
            block(in_channels, w), block(w, 2 * w), nn.MaxPool2d(2), block(2 * w, 2 * w), nn.AdaptiveAvgPool2d(2)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 4, 4 * w), nn.ReLU(), nn.Linear(4 * w, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.head(self.features(self.quant(x))))

    def fuse_model(self) -> None:
        from torch.ao.quantization import fuse_modules

        for i in (0, 1, 3):
            fuse_modules(self.features[i], ["0", "1", "2"], inplace=True)
        fuse_modules(self.head, ["1", "2"], inplace=True)


def _student_8x8() -> nn.Module:
    return DigitsCNN(width=8)


def _student_32x32() -> nn.Module:
    return DigitsCNN(width=8, in_channels=3)


def _spec(
    name: str,
    build: Callable[[], nn.Module],
    settings: TrainSettings,
    *,
    size: int,
    channels: int,
    student: Callable[[], nn.Module],
) -> ModelSpec:
    x_tr, y_tr, x_te, y_te = digits(size, channels)
    return ModelSpec(
        build=build,
        train=functools.partial(fit, s=settings, name=name),
        train_data=(x_tr, y_tr),
        eval_data=(x_te, y_te),
        example_inputs=(x_te[:1],),
        settings=settings.as_dict(),
        student=student,
    )


CNN_TRAINING = TrainSettings(epochs=15, lr=3e-3)
RESNET_TRAINING = TrainSettings(epochs=8, lr=2e-3)
MOBILENET_TRAINING = TrainSettings(epochs=12, lr=3e-3)
VIT_TRAINING = TrainSettings(epochs=40, lr=2e-3, weight_decay=0.05)


@register_model("digits-cnn")
def digits_cnn() -> ModelSpec:
    """Small CNN on sklearn digits (1x8x8)."""
    return _spec("digits-cnn", DigitsCNN, CNN_TRAINING, size=8, channels=1, student=_student_8x8)


def _resnet18() -> nn.Module:
    from torchvision.models.quantization import resnet18

    # The quantizable variant is torchvision's ResNet-18 plus Quant/DeQuant stubs and fuse_model().
    return resnet18(weights=None, quantize=False, num_classes=10)


@register_model("digits-resnet18")
def digits_resnet18() -> ModelSpec:
    """torchvision ResNet-18 on sklearn digits (3x32x32)."""
    return _spec("digits-resnet18", _resnet18, RESNET_TRAINING, size=32, channels=3, student=_student_32x32)


def _mobilenet_v2() -> nn.Module:
    from torchvision.models.quantization import mobilenet_v2

    model = mobilenet_v2(weights=None, quantize=False, num_classes=10)
    # torchvision's BatchNorm momentum (0.01) is tuned for ImageNet-length training; on 1,437
    # images the running statistics never catch up and test accuracy collapses to chance.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return model


@register_model("digits-mobilenetv2")
def digits_mobilenetv2() -> ModelSpec:
    """torchvision MobileNetV2 (quantizable variant) on sklearn digits (3x32x32)."""
    return _spec("digits-mobilenetv2", _mobilenet_v2, MOBILENET_TRAINING, size=32, channels=3, student=_student_32x32)


def _vit() -> nn.Module:
    from torchvision.models import VisionTransformer

    # 16 tokens of 8x8 patches; Linear layers hold almost all of the weights.
    return VisionTransformer(
        image_size=32, patch_size=8, num_layers=4, num_heads=4, hidden_dim=128, mlp_dim=256, num_classes=10
    )


@register_model("digits-vit")
def digits_vit() -> ModelSpec:
    """A small torchvision VisionTransformer on sklearn digits (3x32x32)."""
    return _spec("digits-vit", _vit, VIT_TRAINING, size=32, channels=3, student=_student_32x32)
