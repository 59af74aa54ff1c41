"""Properties of the detection scene generator (``pytest_compress.zoo.scenes``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_compress.zoo import scenes as sc

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


def _pool(split: str) -> np.ndarray:
    train, test = sc.split_indices()
    return train if split == "train" else test


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, count=st.integers(1, 12), split=st.sampled_from(["train", "test"]))
def test_boxes_inside_canvas_and_labels_are_the_pasted_scans(seed: int, count: int, split: str) -> None:
    scans, labels, _, _ = sc._digits()
    s = sc.compose(_pool(split), count, seed)
    assert s.images.shape == (count, 1, sc.CANVAS, sc.CANVAS)
    assert float(s.images.min()) >= 0.0 and float(s.images.max()) <= 1.0
    for n in range(count):
        objects = sc.unpack(s.targets[n])
        boxes, labs = objects["boxes"].numpy(), objects["labels"].numpy()
        assert 1 <= len(boxes) <= sc.MAX_OBJECTS
        assert len(boxes) == len(s.sources[n])
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= sc.CANVAS).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        for box, lab, src in zip(boxes, labs, s.sources[n], strict=True):
            assert src in _pool(split)
            assert lab == labels[src] + 1
            # Re-render the scan from its box alone: the canvas must hold it there (pasted by max).
            scan = scans[src]
            rows, cols = np.flatnonzero(scan.any(axis=1)), np.flatnonzero(scan.any(axis=0))
            side = round((box[2] - box[0]) * 8 / (cols[-1] + 1 - cols[0]))
            assert side == round((box[3] - box[1]) * 8 / (rows[-1] + 1 - rows[0]))
            x, y = round(box[0] - cols[0] * side / 8), round(box[1] - rows[0] * side / 8)
            patch = sc._upscale(scan, side)
            region = s.images[n, 0, y : y + side, x : x + side].numpy()
            assert region.shape == patch.shape
            assert (region >= patch - 1e-6).all()
        for i in range(len(boxes)):
            for j in range(i):
                assert sc.iou(tuple(boxes[i]), tuple(boxes[j])) <= sc.MAX_IOU + 1e-9


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS)
def test_deterministic_under_a_seed(seed: int) -> None:
    a, b = sc.compose(_pool("train"), 5, seed), sc.compose(_pool("train"), 5, seed)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets) and a.sources == b.sources
    c = sc.compose(_pool("train"), 5, seed + 1)
    assert not (torch.equal(a.images, c.images) and a.sources == c.sources)


def test_split_is_disjoint_by_source_scan() -> None:
    train, test = sc.split_indices()
    assert not set(train.tolist()) & set(test.tolist())
    assert len(train) + len(test) == len(sc._digits()[1])
    used_train = {i for srcs in sc.scenes("train").sources for i in srcs}
    used_test = {i for srcs in sc.scenes("test").sources for i in srcs}
    assert used_train <= set(train.tolist()) and used_test <= set(test.tolist())
    assert not used_train & used_test
    # Every digit class appears on both sides.
    labels = sc._digits()[1]
    assert {int(labels[i]) for i in used_train} == set(range(10)) == {int(labels[i]) for i in used_test}


def test_fixed_sets_have_the_documented_sizes() -> None:
    assert len(sc.scenes("train").images) == sc.TRAIN_SCENES
    assert len(sc.scenes("test").images) == sc.TEST_SCENES
    with pytest.raises(ValueError, match="split"):
        sc.scenes("val")


def test_ink_box_of_a_known_scan() -> None:
    scan = np.zeros((8, 8), dtype=np.float32)
    scan[2:5, 1:7] = 1.0
    assert sc.ink_box(scan, 16) == (2.0, 4.0, 14.0, 10.0)
