"""sklearn's handwritten digits (1,797 real 8x8 scans, shipped with scikit-learn).

Fixed stratified split: 1,437 train / 360 test (``random_state=0``). Pixel values scaled to
[0, 1]. ResNet-18 sees them bilinearly upsampled to 32x32 and repeated to 3 channels.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from pytest_compress.spec import ModelSpec, register_model
from pytest_compress.zoo.training import TrainSettings, fit

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
    """Three conv blocks and a two-layer head, written for eager quantization (stubs + fuse_model)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        from torch.ao.quantization import DeQuantStub, QuantStub

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.features = nn.Sequential(block(1, 32), block(32, 64), nn.MaxPool2d(2), block(64, 64), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.head(self.features(self.quant(x))))

    def fuse_model(self) -> None:
        from torch.ao.quantization import fuse_modules

        for i in (0, 1, 3):
            fuse_modules(self.features[i], ["0", "1", "2"], inplace=True)
        fuse_modules(self.head, ["1", "2"], inplace=True)


CNN_TRAINING = TrainSettings(epochs=15, lr=3e-3)
RESNET_TRAINING = TrainSettings(epochs=8, lr=2e-3)


@register_model("digits-cnn")
def digits_cnn() -> ModelSpec:
    """Small CNN on sklearn digits (1x8x8)."""
    x_tr, y_tr, x_te, y_te = digits(8, 1)
    return ModelSpec(
        build=DigitsCNN,
        train=functools.partial(fit, s=CNN_TRAINING, name="digits-cnn"),
        train_data=(x_tr, y_tr),
        eval_data=(x_te, y_te),
        example_inputs=(x_te[:1],),
        settings=CNN_TRAINING.as_dict(),
    )


def _resnet18() -> nn.Module:
    from torchvision.models.quantization import resnet18

    # The quantizable variant is torchvision's ResNet-18 plus Quant/DeQuant stubs and fuse_model().
    return resnet18(weights=None, quantize=False, num_classes=10)


@register_model("digits-resnet18")
def digits_resnet18() -> ModelSpec:
    """torchvision ResNet-18 on sklearn digits (3x32x32)."""
    x_tr, y_tr, x_te, y_te = digits(32, 3)
    return ModelSpec(
        build=_resnet18,
        train=functools.partial(fit, s=RESNET_TRAINING, name="digits-resnet18"),
        train_data=(x_tr, y_tr),
        eval_data=(x_te, y_te),
        example_inputs=(x_te[:1],),
        settings=RESNET_TRAINING.as_dict(),
    )
