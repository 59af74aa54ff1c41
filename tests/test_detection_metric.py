"""COCO mAP and its paired bootstrap interval (``pytest_compress.measure.detection``)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_compress.measure import detection as det
from pytest_compress.spec import Metric

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _scene_records(n: int, seed: int) -> list[det.ImageRecord]:
    """Ground truth only (detections empty): 1-4 boxes of 10 classes on a 64x64 canvas."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        xy = rng.uniform(0, 40, size=(k, 2))
        wh = rng.uniform(8, 24, size=(k, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        labels = rng.integers(1, 11, size=k).astype(np.int64)
        out.append(
            det.ImageRecord(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), boxes, labels)
        )
    return out


def _predict(gt: list[det.ImageRecord], seed: int, jitter: float, miss: float, wrong: float) -> list[det.ImageRecord]:
    """Noisy detections of the ground truth: boxes jittered, some missed, some relabelled, plus false positives."""
    rng = np.random.default_rng(seed)
    out = []
    for r in gt:
        keep = rng.random(len(r.gt_labels)) >= miss
        boxes = r.gt_boxes[keep] + rng.normal(0, jitter, size=(int(keep.sum()), 4)).astype(np.float32)
        labels = r.gt_labels[keep].copy()
        flip = rng.random(len(labels)) < wrong
        labels[flip] = rng.integers(1, 11, size=int(flip.sum()))
        extra = rng.uniform(0, 48, size=(2, 2)).astype(np.float32)
        boxes = np.concatenate([boxes, np.concatenate([extra, extra + 12], axis=1)])
        labels = np.concatenate([labels, rng.integers(1, 11, size=2)])
        scores = rng.uniform(0.05, 1.0, size=len(labels)).astype(np.float32)
        out.append(det.ImageRecord(boxes, scores, labels.astype(np.int64), r.gt_boxes, r.gt_labels))
    return out


def _as_perfect(gt: list[det.ImageRecord]) -> list[det.ImageRecord]:
    return [
        det.ImageRecord(r.gt_boxes, np.ones(len(r.gt_labels), np.float32), r.gt_labels, r.gt_boxes, r.gt_labels)
        for r in gt
    ]


def test_ground_truth_as_predictions_scores_one() -> None:
    perfect = _as_perfect(_scene_records(40, 0))
    assert det.torchmetrics_map(perfect) == {"map": pytest.approx(1.0), "map_50": pytest.approx(1.0)}
    assert det.weighted_map(det.match_tables(perfect), np.ones(40)) == pytest.approx(np.ones((1, 10)))
    assert det.MAP.value(perfect) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_accumulation_equals_torchmetrics_on_the_full_set(seed: int) -> None:
    recs = _predict(_scene_records(60, seed), seed, jitter=2.0, miss=0.2, wrong=0.1)
    expected = det.torchmetrics_map(recs)
    assert 0.1 < expected["map"] < 0.95  # not a degenerate case
    per_iou = det.weighted_map(det.match_tables(recs), np.ones(60))[0]
    assert per_iou.mean() == pytest.approx(expected["map"], abs=1e-6)  # torchmetrics returns float32
    assert per_iou[0] == pytest.approx(expected["map_50"], abs=1e-6)  # torchmetrics returns float32


def test_integer_weights_equal_the_set_with_those_copies() -> None:
    recs = _predict(_scene_records(30, 7), 7, jitter=2.0, miss=0.2, wrong=0.1)
    weights = np.random.default_rng(0).multinomial(30, np.ones(30) / 30)
    copies = [r for r, w in zip(recs, weights, strict=True) for _ in range(w)]
    expected = det.torchmetrics_map(copies)
    got = det.weighted_map(det.match_tables(recs), weights[None])[0]
    assert got.mean() == pytest.approx(expected["map"], abs=1e-6)  # torchmetrics returns float32
    assert got[0] == pytest.approx(expected["map_50"], abs=1e-6)  # torchmetrics returns float32


def test_identical_outputs_have_no_drop() -> None:
    recs = _predict(_scene_records(30, 4), 4, jitter=2.0, miss=0.2, wrong=0.1)
    same = [det.ImageRecord(r.boxes.copy(), r.scores.copy(), r.labels.copy(), r.gt_boxes, r.gt_labels) for r in recs]
    assert det.map_drop_interval(recs, same, confidence=0.99) == (0.0, 0.0)


def test_interval_brackets_a_real_drop_and_its_sign() -> None:
    gt = _scene_records(150, 5)
    good = _predict(gt, 5, jitter=1.0, miss=0.05, wrong=0.02)
    bad = _predict(gt, 6, jitter=3.0, miss=0.3, wrong=0.2)
    drop = det.torchmetrics_map(good)["map"] - det.torchmetrics_map(bad)["map"]
    lo, hi = det.map_drop_interval(good, bad, confidence=0.99, resamples=500)
    assert 0 < lo < drop < hi
    lo2, hi2 = det.map_drop_interval(bad, good, confidence=0.99, resamples=500)
    assert lo2 == pytest.approx(-hi, abs=0.02) and hi2 == pytest.approx(-lo, abs=0.02)
    lo50, hi50 = det.map_drop_interval(good, bad, confidence=0.99, metric="map50", resamples=500)
    drop50 = det.torchmetrics_map(good)["map_50"] - det.torchmetrics_map(bad)["map_50"]
    assert lo50 < drop50 < hi50


def test_small_perturbation_gives_an_interval_around_zero() -> None:
    gt = _scene_records(150, 8)
    a = _predict(gt, 8, jitter=1.5, miss=0.1, wrong=0.05)
    # The same detections with every score nudged: a different ranking, no systematic change.
    rng = np.random.default_rng(1)
    b = [
        det.ImageRecord(
            r.boxes,
            (r.scores + rng.normal(0, 0.01, r.scores.shape)).astype(np.float32),
            r.labels,
            r.gt_boxes,
            r.gt_labels,
        )
        for r in a
    ]
    lo, hi = det.map_drop_interval(a, b, confidence=0.99, resamples=500)
    assert lo < 0 < hi and lo != hi
    assert hi - lo < 0.05


def test_metric_record_set_needs_both_callables() -> None:
    with pytest.raises(ValueError, match="summarize and paired_interval go with"):
        Metric(name="x", unit="u", higher_is_better=True, score=det.records, aggregate="set")
    with pytest.raises(ValueError, match="summarize and paired_interval go with"):
        Metric(name="x", unit="u", higher_is_better=True, score=det.records, summarize=len)
