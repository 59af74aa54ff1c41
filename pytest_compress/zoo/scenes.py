"""Detection scenes composed from sklearn's digit scans, with every box and label known exactly.

A scene is a 64x64 black canvas with 1-4 digits pasted on it. Each digit is one of the 1,797
real 8x8 scans, upscaled (bilinear) to a random side of 12-28 pixels and pasted at a random
position, by pixel-wise maximum, where its box overlaps no earlier box by more than
``MAX_IOU`` (placements that would are redrawn). A digit's box is the scan's ink (its non-zero
rows and columns) mapped through the same scaling, so boxes are exact, not estimated; its label
is the scan's class + 1 (0 is the background class of SSD-style heads).

Scans are split once, by source image, with the classification suite's split (stratified,
``random_state=0``): train scenes use only train scans and test scenes only test scans, so no
scan appears on both sides. Everything is drawn from ``numpy.random.default_rng(seed)``: the same
seed gives the same scenes, pixel for pixel.

Targets travel as one float tensor per scene set, ``(N, MAX_OBJECTS, 5)`` rows of
``x0, y0, x1, y1, label`` padded with label -1, so they can be sliced, digested and cached like
any other tensor; :func:`unpack` turns a row back into torchvision's ``{"boxes", "labels"}``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

CANVAS = 64
MIN_SIDE, MAX_SIDE = 12, 28
MAX_OBJECTS = 4
MAX_IOU = 0.1
TRAIN_SCENES, TEST_SCENES = 2000, 300
TRAIN_SEED, TEST_SEED = 0, 1


@dataclass(frozen=True)
class Scenes:
    images: torch.Tensor  # (N, 1, CANVAS, CANVAS) float32 in [0, 1]
    targets: torch.Tensor  # (N, MAX_OBJECTS, 5): x0, y0, x1, y1, label; label -1 pads
    sources: tuple[tuple[int, ...], ...]  # per scene, the indices (into load_digits) of its scans


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(scans (1797, 8, 8) in [0, 1], labels, train indices, test indices)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    return (x.reshape(-1, 8, 8) / 16.0).astype(np.float32), y.astype(np.int64), np.sort(train), np.sort(test)


def split_indices() -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train scans and the test scans (disjoint)."""
    _, _, train, test = _digits()
    return train, test


def ink_box(scan: np.ndarray, side: int) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) of ``scan``'s non-zero pixels once it is scaled to ``side`` pixels."""
    rows = np.flatnonzero(scan.any(axis=1))
    cols = np.flatnonzero(scan.any(axis=0))
    scale = side / scan.shape[0]
    return cols[0] * scale, rows[0] * scale, (cols[-1] + 1) * scale, (rows[-1] + 1) * scale


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _upscale(scan: np.ndarray, side: int) -> np.ndarray:
    t = torch.from_numpy(scan)[None, None]
    return F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1).numpy()


def compose(pool: np.ndarray, count: int, seed: int) -> Scenes:
    """``count`` scenes whose digits are drawn from the scans at indices ``pool``."""
    scans, labels, _, _ = _digits()
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 1, CANVAS, CANVAS), dtype=np.float32)
    targets = np.full((count, MAX_OBJECTS, 5), -1.0, dtype=np.float32)
    sources = []
    for n in range(count):
        boxes: list[tuple[float, float, float, float]] = []
        used: list[int] = []
        for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
            src = int(rng.choice(pool))
            side = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
            for _attempt in range(20):
                x, y = (int(v) for v in rng.integers(0, CANVAS - side + 1, size=2))
                x0, y0, x1, y1 = ink_box(scans[src], side)
                box = (x + x0, y + y0, x + x1, y + y1)
                if all(iou(box, b) <= MAX_IOU for b in boxes):
                    break
            else:
                continue  # no free spot: the scene keeps fewer digits
            patch = _upscale(scans[src], side)
            region = images[n, 0, y : y + side, x : x + side]
            np.maximum(region, patch, out=region)
            targets[n, len(boxes)] = (*box, labels[src] + 1)
            boxes.append(box)
            used.append(src)
        sources.append(tuple(used))
    return Scenes(torch.from_numpy(images), torch.from_numpy(targets), tuple(sources))


@functools.cache
def scenes(split: str) -> Scenes:
    """The fixed train (2,000 scenes) or test (300 scenes) set."""
    train, test = split_indices()
    if split == "train":
        return compose(train, TRAIN_SCENES, TRAIN_SEED)
    if split == "test":
        return compose(test, TEST_SCENES, TEST_SEED)
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def unpack(row: torch.Tensor) -> dict[str, torch.Tensor]:
    """One scene's packed targets -> torchvision's ``{"boxes": (k, 4) float, "labels": (k,) int64}``."""
    keep = row[:, 4] >= 0
    return {"boxes": row[keep, :4].float(), "labels": row[keep, 4].long()}
