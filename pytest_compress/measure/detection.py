"""Detection metrics: COCO mAP@[.5:.95] and mAP@.5, with a paired bootstrap interval over images.

mAP is not a mean over images, so each image's outcome is a record (its detections and its
ground truth) and the metric is a function of the whole set (``Metric(aggregate="set")``):

- **The value** is torchmetrics' ``MeanAveragePrecision`` (pycocotools backend) on the records.
- **The interval** resamples images: both models' mAP is recomputed on the same resampled image
  set and the drop's distribution gives a BCa interval (``scipy.stats.bootstrap``). Rerunning
  COCO evaluation per resample would take minutes, so pycocotools matches detections to ground
  truth once per model (``COCOeval.evaluate``: matching is per image, so a resample does not
  change it) and each resample re-accumulates precision/recall with the images weighted by how
  often they were drawn — COCOeval.accumulate's arithmetic, vectorised over resamples. On the
  full set (all weights 1) it equals torchmetrics' value; with integer weights it equals COCO mAP
  of the image set with those copies (tests check both), up to the order of exactly tied scores.
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pytest_compress.spec import Metric

# torchmetrics hands pycocotools float32 thresholds (0.550000011920929, not 0.55): use the same
# ones, or a recall of exactly 0.3 counts on one side and not on the other.
IOU_THRESHOLDS = np.asarray(torch.linspace(0.5, 0.95, 10).tolist())
RECALL_THRESHOLDS = np.asarray(torch.linspace(0.0, 1.0, 101).tolist())
MAX_DETS = 100


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image's detections (boxes xyxy, scores, labels) and ground truth (boxes, labels)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    gt_boxes: np.ndarray
    gt_labels: np.ndarray


def records(outputs: Sequence[dict[str, torch.Tensor]], targets: torch.Tensor) -> list[ImageRecord]:
    """Per-image records of a torchvision detector's outputs against packed targets (``zoo/scenes.py``)."""
    from pytest_compress.zoo.scenes import unpack

    out = []
    for det, row in zip(outputs, targets, strict=True):
        gt = unpack(row.cpu())
        out.append(
            ImageRecord(
                boxes=det["boxes"].detach().float().cpu().numpy().reshape(-1, 4),
                scores=det["scores"].detach().float().cpu().numpy().reshape(-1),
                labels=det["labels"].detach().cpu().numpy().astype(np.int64).reshape(-1),
                gt_boxes=gt["boxes"].numpy().reshape(-1, 4),
                gt_labels=gt["labels"].numpy(),
            )
        )
    return out


def torchmetrics_map(recs: Sequence[ImageRecord]) -> dict[str, float]:
    """{"map", "map_50"} of the records by torchmetrics' MeanAveragePrecision (pycocotools)."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    metric.update(
        [
            {
                "boxes": torch.from_numpy(r.boxes),
                "scores": torch.from_numpy(r.scores),
                "labels": torch.from_numpy(r.labels),
            }
            for r in recs
        ],
        [{"boxes": torch.from_numpy(r.gt_boxes), "labels": torch.from_numpy(r.gt_labels)} for r in recs],
    )
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        result = metric.compute()
    return {"map": float(result["map"]), "map_50": float(result["map_50"])}


@dataclass(frozen=True)
class CategoryTable:
    """One category's detections over every image, in COCOeval's score order, as *items*: a
    detection matched at some IoU threshold is an item of its own; a run of consecutive
    detections unmatched at every threshold is one item (it only adds false positives, and
    precision is read only where recall rises, so the run's total is all that matters); a
    detection ignored at every threshold is dropped. A weighting of the images weights item j by
    ``weights @ incidence[:, j]``. 10-20x fewer items than detections: low-score clutter is runs."""

    incidence: np.ndarray  # (N, I) detections of image i in item j
    tp: np.ndarray  # (T, I) matched and not ignored, per IoU threshold
    fp: np.ndarray  # (T, I) unmatched and not ignored
    positives: np.ndarray  # (N,) non-ignored ground-truth boxes per image


def _items(image: np.ndarray, tp: np.ndarray, fp: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(incidence, tp, fp) of the items of one category's sorted detections (see CategoryTable)."""
    keep = (tp | fp).any(axis=0)
    image, tp, fp = image[keep], tp[:, keep], fp[:, keep]
    only_fp = fp.all(axis=0) & ~tp.any(axis=0)
    starts = ~only_fp | np.concatenate([[True], ~only_fp[:-1]]) if len(only_fp) else only_fp
    item = np.cumsum(starts) - 1
    firsts = np.flatnonzero(starts)
    incidence = np.zeros((n, len(firsts)))
    np.add.at(incidence, (image, item), 1.0)
    return incidence, tp[:, firsts], fp[:, firsts]


def match_tables(recs: Sequence[ImageRecord]) -> list[CategoryTable]:
    """pycocotools' per-image matching (area "all", 100 detections), one table per category."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b: np.ndarray) -> list[float]:
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    cats = sorted({int(c) for r in recs for c in (*r.labels, *r.gt_labels)})
    gts, dts = [], []
    for i, r in enumerate(recs):
        for b, c in zip(r.gt_boxes, r.gt_labels, strict=True):
            w = xywh(b)
            gts.append(
                {"id": len(gts) + 1, "image_id": i, "category_id": int(c), "bbox": w, "area": w[2] * w[3], "iscrowd": 0}
            )
        for b, s, c in zip(r.boxes, r.scores, r.labels, strict=True):
            w = xywh(b)
            dts.append(
                {
                    "id": len(dts) + 1,
                    "image_id": i,
                    "category_id": int(c),
                    "bbox": w,
                    "area": w[2] * w[3],
                    "score": float(s),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {
            "images": [{"id": i} for i in range(len(recs))],
            "annotations": gts,
            "categories": [{"id": c} for c in cats],
        }
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {
            "images": [{"id": i} for i in range(len(recs))],
            "annotations": dts,
            "categories": [{"id": c} for c in cats],
        }
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.iouThrs, ev.params.recThrs = IOU_THRESHOLDS, RECALL_THRESHOLDS
        ev.params.maxDets = [MAX_DETS]
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.evaluate()
    n, tables = len(recs), []
    for k in range(len(cats)):
        evals = [(i, ev.evalImgs[k * n + i]) for i in range(n)]
        evals = [(i, e) for i, e in evals if e is not None]
        image = np.concatenate([np.full(len(e["dtScores"][:MAX_DETS]), i) for i, e in evals] or [np.zeros(0, int)])
        scores = np.concatenate([np.asarray(e["dtScores"][:MAX_DETS]) for _, e in evals] or [np.zeros(0)])
        order = np.argsort(-scores, kind="mergesort")
        matched = np.concatenate([e["dtMatches"][:, :MAX_DETS] for _, e in evals] or [np.zeros((10, 0))], axis=1)
        ignored = np.concatenate([e["dtIgnore"][:, :MAX_DETS] for _, e in evals] or [np.zeros((10, 0))], axis=1)
        matched, ignored = matched[:, order] > 0, ignored[:, order] > 0
        positives = np.zeros(n)
        for i, e in evals:
            positives[i] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
        incidence, tp, fp = _items(image[order], matched & ~ignored, ~matched & ~ignored, n)
        tables.append(CategoryTable(incidence, tp, fp, positives))
    return tables


def weighted_map(tables: Sequence[CategoryTable], weights: np.ndarray) -> np.ndarray:
    """mAP per IoU threshold, shape (B, T), of B image weightings ``weights`` (B, N): COCOeval.accumulate
    with image i counted ``weights[b, i]`` times; a category without positives is left out."""
    weights = np.atleast_2d(weights).astype(np.float64)
    b = len(weights)
    total = np.zeros((b, len(IOU_THRESHOLDS)))
    counted = np.zeros((b, 1))
    for t in tables:
        npig = weights @ t.positives  # (B,)
        present = npig > 0
        counted[:, 0] += present
        if t.incidence.shape[1] == 0:
            continue
        w = weights @ t.incidence  # (B, I)
        tp = np.cumsum(w[:, None, :] * t.tp[None], axis=2)  # (B, T, I)
        fp = np.cumsum(w[:, None, :] * t.fp[None], axis=2)
        recall = tp / np.maximum(npig, 1e-12)[:, None, None]
        precision = tp / (tp + fp + np.spacing(1))
        envelope = np.maximum.accumulate(precision[..., ::-1], axis=2)[..., ::-1]
        # COCOeval's searchsorted(recall, thresholds, "left") per (b, t) row: exact comparisons matter
        # (a recall of 0.29999999999999993 has not reached 0.3). Past the last point precision is 0.
        d = recall.shape[2]
        flat = recall.reshape(-1, d)
        first = np.stack([np.searchsorted(row, RECALL_THRESHOLDS, side="left") for row in flat])
        first = first.reshape(b, -1, len(RECALL_THRESHOLDS))
        inside = first < d
        q = np.where(inside, np.take_along_axis(envelope, np.minimum(first, d - 1), axis=2), 0.0)
        total += np.where(present[:, None], q.mean(axis=2), 0.0)
    return np.where(counted > 0, total / np.maximum(counted, 1), -1.0)


# Every case scores the reference's records again, once per metric: keep the few most recent
# results per record set (and the records, so that their ids are not reused while cached).
_CACHE: OrderedDict[int, tuple[Sequence[ImageRecord], dict[str, Any]]] = OrderedDict()


def _cached(recs: Sequence[ImageRecord], what: str, compute: Callable[[Sequence[ImageRecord]], Any]) -> Any:
    key = id(recs)
    if key not in _CACHE or _CACHE[key][0] is not recs:
        _CACHE[key] = (recs, {})
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    found = _CACHE[key][1]
    if what not in found:
        found[what] = compute(recs)
    return found[what]


def _tables(recs: Sequence[ImageRecord]) -> list[CategoryTable]:
    return _cached(recs, "tables", match_tables)


# mAP@[.5:.95] averages all ten IoU thresholds; mAP@.5 is the first.
SELECTIONS = {"map": slice(None), "map50": slice(0, 1)}
_INTERVALS: OrderedDict[tuple[int, int, float, int, int], tuple[Any, ...]] = OrderedDict()


def map_drop_intervals(
    reference: Sequence[ImageRecord],
    compressed: Sequence[ImageRecord],
    *,
    confidence: float,
    seed: int = 0,
    resamples: int = 1000,
) -> dict[str, tuple[float, float]]:
    """Paired BCa bootstrap intervals (over images) of mAP(reference) - mAP(compressed), for
    mAP@[.5:.95] ("map") and mAP@.5 ("map50") from the same resamples. Cached per pair of record
    sets: a case asks once per metric."""
    from scipy.stats import bootstrap

    if len(reference) != len(compressed) or not reference:
        raise ValueError("map_drop_intervals needs two equally long, non-empty record sequences")
    key = (id(reference), id(compressed), confidence, seed, resamples)
    if key in _INTERVALS and _INTERVALS[key][0] is reference and _INTERVALS[key][1] is compressed:
        return _INTERVALS[key][2]
    if all(_same(a, b) for a, b in zip(reference, compressed, strict=True)):
        # Identical outputs on every image: no difference to resample.
        return dict.fromkeys(SELECTIONS, (0.0, 0.0))
    ref_t, cmp_t = _tables(reference), _tables(compressed)
    n = len(reference)

    def drop(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.moveaxis(np.asarray(idx), axis, -1)
        flat = idx.reshape(-1, idx.shape[-1])
        w = np.zeros((len(flat), n))
        np.add.at(w, (np.repeat(np.arange(len(flat)), flat.shape[1]), flat.ravel()), 1.0)
        d = weighted_map(ref_t, w) - weighted_map(cmp_t, w)  # (B, T)
        out = np.stack([d[:, sel].mean(axis=1) for sel in SELECTIONS.values()])
        return out.reshape((len(SELECTIONS), *idx.shape[:-1]))

    def interval(method: str) -> tuple[np.ndarray, np.ndarray]:
        res = bootstrap(
            (np.arange(n),),
            drop,
            vectorized=True,
            confidence_level=confidence,
            n_resamples=resamples,
            batch=100,
            method=method,
            rng=np.random.default_rng(seed),
        )
        return np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)

    lo, hi = interval("BCa")
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):  # BCa undefined (e.g. one differing image)
        lo, hi = interval("percentile")
    result = {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(SELECTIONS)}
    _INTERVALS[key] = (reference, compressed, result)
    while len(_INTERVALS) > 4:
        _INTERVALS.popitem(last=False)
    return result


def map_drop_interval(
    reference: Sequence[ImageRecord],
    compressed: Sequence[ImageRecord],
    *,
    confidence: float,
    seed: int = 0,
    metric: str = "map",
    resamples: int = 1000,
) -> tuple[float, float]:
    """One metric's interval from :func:`map_drop_intervals`."""
    return map_drop_intervals(reference, compressed, confidence=confidence, seed=seed, resamples=resamples)[metric]


def _same(a: ImageRecord, b: ImageRecord) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("boxes", "scores", "labels"))


def _interval(metric: str):  # noqa: ANN202
    def paired(
        ref: Sequence[ImageRecord], cmp: Sequence[ImageRecord], confidence: float, seed: int
    ) -> tuple[float, float]:
        return map_drop_interval(ref, cmp, confidence=confidence, seed=seed, metric=metric)

    return paired


MAP = Metric(
    name="map",
    unit="mAP",
    higher_is_better=True,
    score=records,
    aggregate="set",
    summarize=lambda recs: _cached(recs, "torchmetrics", torchmetrics_map)["map"],
    paired_interval=_interval("map"),
    definition="COCO box mAP@[.5:.95] (torchmetrics MeanAveragePrecision, pycocotools), 100 detections per image",
)
MAP50 = Metric(
    name="map50",
    unit="mAP",
    higher_is_better=True,
    score=records,
    aggregate="set",
    summarize=lambda recs: _cached(recs, "torchmetrics", torchmetrics_map)["map_50"],
    paired_interval=_interval("map50"),
    definition="COCO box mAP at IoU 0.5 (torchmetrics MeanAveragePrecision, pycocotools)",
)
