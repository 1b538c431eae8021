"""COCO evaluation of detectors with pycocotools, silenced.

``evaluate_detections`` scores a list of COCO-format detections against a
split; ``evaluate_model`` runs a detector over a dataset and scores it.
Metrics: ``mAP`` (AP@[.5:.95]), ``mAP50``, ``mAP75`` and ``AR100``. A run with
no detections scores 0, not a crash.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

    from tuner.data.coco import CocoSplit

METRICS: tuple[str, ...] = ("mAP", "mAP50", "mAP75", "AR100")
_STAT_INDEX = {"mAP": 0, "mAP50": 1, "mAP75": 2, "AR100": 8}


def zero_metrics() -> dict[str, float]:
    """The metrics of a detector that finds nothing."""
    return dict.fromkeys(METRICS, 0.0)


def ground_truth(split: CocoSplit) -> Any:
    """A pycocotools ``COCO`` object for ``split``, built in memory without printing."""
    from pycocotools.coco import COCO

    annotations = []
    for anns in split.annotations.values():
        for ann in anns:
            _, _, w, h = ann["bbox"]
            annotations.append(
                {**ann, "area": ann.get("area", w * h), "iscrowd": ann.get("iscrowd", 0)}
            )
    coco = COCO()
    coco.dataset = {
        "images": list(split.images),
        "annotations": annotations,
        "categories": list(split.categories),
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def evaluate_detections(split: CocoSplit, detections: list[dict[str, Any]]) -> dict[str, float]:
    """Score COCO-format ``detections`` (image_id, category_id, bbox xywh, score) on ``split``."""
    from pycocotools.cocoeval import COCOeval

    gt = ground_truth(split)
    if not detections or not gt.getAnnIds():
        return zero_metrics()
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes([dict(d) for d in detections])
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    # pycocotools reports -1 where a metric is undefined (no ground truth in range): call it 0.
    return {name: max(0.0, float(stats[i])) for name, i in _STAT_INDEX.items()}


def to_coco_detections(
    outputs: Iterable[dict[str, torch.Tensor]], image_ids: Iterable[int], split: CocoSplit
) -> list[dict[str, Any]]:
    """Convert torchvision detector outputs (xyxy boxes, labels) to COCO detections."""
    detections: list[dict[str, Any]] = []
    for output, image_id in zip(outputs, image_ids, strict=True):
        boxes = output["boxes"].detach().float().cpu().numpy()
        if boxes.size == 0:
            continue
        scores = output["scores"].detach().float().cpu().numpy()
        labels = output["labels"].detach().cpu().numpy()
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        for box, score, label in zip(xywh.tolist(), scores.tolist(), labels.tolist(), strict=True):
            if label <= 0 or label > len(split.categories):
                continue
            detections.append(
                {
                    "image_id": int(image_id),
                    "category_id": split.category_of(int(label)),
                    "bbox": [round(v, 2) for v in box],
                    "score": round(float(score), 5),
                }
            )
    return detections


def predict(
    model: nn.Module, dataset: Any, device: torch.device, batch_size: int = 16
) -> list[dict[str, Any]]:
    """Run ``model`` over every image of ``dataset`` and return COCO detections."""
    import torch

    was_training = model.training
    model.eval()
    detections: list[dict[str, Any]] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(dataset), batch_size):
                items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                images = [img.to(device, non_blocking=True).float().div_(255) for img, _ in items]
                with torch.autocast(device.type, enabled=device.type == "cuda"):
                    outputs = model(images)
                ids = [int(t["image_id"]) for _, t in items]
                detections.extend(to_coco_detections(outputs, ids, dataset.split))
    finally:
        model.train(was_training)
    return detections


def evaluate_model(
    model: nn.Module, dataset: Any, device: torch.device, batch_size: int = 16
) -> dict[str, float]:
    """mAP, mAP50, mAP75 and AR100 of ``model`` on ``dataset`` (a ``DetectionDataset``)."""
    return evaluate_detections(dataset.split, predict(model, dataset, device, batch_size))
