"""Fixtures for the data tests: a small synthetic dataset and a COCO folder builder."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tuner.data.synth import SynthSummary, generate_synthetic


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """24 synthetic scenes of 96 px, seed 3 (generated once per test session)."""
    out = tmp_path_factory.mktemp("synth")
    return generate_synthetic(out, images=24, size=96, seed=3, val_fraction=0.25)


def base_coco() -> dict[str, Any]:
    """A valid three-image COCO dict: category ids with a gap, one empty image, one crowd."""
    return {
        "images": [
            {"id": 10, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 11, "file_name": "b.png", "width": 40, "height": 30},
            {"id": 12, "file_name": "c.png", "width": 20, "height": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [2, 3, 10, 8], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [20, 5, 15.5, 20], "area": 90},
            {"id": 3, "image_id": 12, "category_id": 3, "bbox": [0, 0, 20, 20]},
            {"id": 4, "image_id": 12, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 1},
        ],
        "categories": [{"id": 7, "name": "truck"}, {"id": 3, "name": "bike"}],
    }


def _writable(record: Any) -> bool:
    """Whether an image record is sound enough to write a file for."""
    if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
        return False
    name = record["file_name"]
    if name.startswith("/") or ".." in name:
        return False
    size = (record.get("width"), record.get("height"), record.get("id"))
    return all(isinstance(v, int) and v > 0 for v in size)


class CocoFolder:
    """Writes a COCO dataset folder: ``annotations/instances_{split}.json`` and ``images/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images = root / "images"
        self.annotations = root / "annotations"

    def ann_file(self, split: str = "train") -> Path:
        return self.annotations / f"instances_{split}.json"

    def write(
        self,
        data: dict[str, Any] | None = None,
        *,
        split: str = "train",
        images: bool = True,
    ) -> Path:
        """Write ``data`` (default :func:`base_coco`) and, with ``images``, its PNG files."""
        data = copy.deepcopy(base_coco()) if data is None else data
        self.annotations.mkdir(parents=True, exist_ok=True)
        self.images.mkdir(parents=True, exist_ok=True)
        path = self.ann_file(split)
        path.write_text(json.dumps(data), encoding="utf-8")
        if images:
            records = base_coco()["images"]
            if isinstance(data.get("images"), list):
                records += [r for r in data["images"] if _writable(r)]
            for img in records:
                self.image(img["file_name"], img["width"], img["height"], seed=img["id"])
        return path

    def image(self, name: str, width: int, height: int, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        path = self.images / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        return path

    def both(self, data: dict[str, Any] | None = None) -> Path:
        """Write the same data as the train and the val split; return the folder."""
        self.write(data, split="train")
        self.write(data, split="val")
        return self.root


@pytest.fixture
def coco(tmp_path: Path) -> CocoFolder:
    """An empty :class:`CocoFolder` in a fresh temporary folder."""
    return CocoFolder(tmp_path / "dataset")


@pytest.fixture
def edited() -> Callable[[Callable[[dict[str, Any]], Any]], dict[str, Any]]:
    """``edited(fn)``: a copy of :func:`base_coco` changed in place by ``fn``."""

    def make(fn: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        data = copy.deepcopy(base_coco())
        fn(data)
        return data

    return make
