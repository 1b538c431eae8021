"""A torch ``Dataset`` over a validated COCO split, with an in-memory image cache.

Items are what torchvision's detectors take: a uint8 ``[3, H, W]`` RGB image and a
target dict with ``boxes`` (float32 ``[N, 4]``, ``x0, y0, x1, y1`` in pixels),
``labels`` (int64 ``[N]``, contiguous ``1..K``) and ``image_id`` (int64 scalar, the
COCO image id). Crowd annotations are left out of the targets (evaluation ignores
them through the COCO ground truth instead).

Decoded images are kept in memory after their first use when they fit (the
estimate is ``3 * width * height`` bytes per image, from the json): decoding a PNG
costs more than a training step of the tiny models. Each ``DataLoader`` worker
process keeps its own cache; call :meth:`DetectionDataset.preload` before creating
workers to share one (copy-on-write after fork). Items are copies: changing them in
place never changes the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from tuner.data.coco import CocoSplit
from tuner.errors import DataError
from tuner.progress import Progress, or_null

__all__ = ["DetectionDataset", "collate"]

Target = dict[str, Tensor]


class DetectionDataset(Dataset[tuple[Tensor, Target]]):
    """Images and detection targets of one :class:`~tuner.data.coco.CocoSplit`.

    Args:
        split: The validated split.
        cache: Keep decoded images in memory: ``True``, ``False``, or ``None`` to
            decide from their estimated size.
        cache_limit_bytes: With ``cache=None``, cache only when the decoded images
            are estimated to take at most this many bytes.
    """

    def __init__(
        self,
        split: CocoSplit,
        cache: bool | None = None,
        cache_limit_bytes: int = 2 * 1024**3,
    ) -> None:
        self.split = split
        self._records = list(split.images)
        self.estimated_bytes = sum(3 * r["width"] * r["height"] for r in self._records)
        self.caching = self.estimated_bytes <= cache_limit_bytes if cache is None else cache
        self._cache: list[Tensor | None] = [None] * len(self._records)
        self._targets = [self._target(r) for r in self._records]

    def _target(self, record: dict[str, Any]) -> Target:
        anns = [a for a in self.split.annotations[record["id"]] if not a["iscrowd"]]
        boxes = np.zeros((len(anns), 4), dtype=np.float32)
        for row, a in enumerate(anns):
            x, y, w, h = a["bbox"]
            boxes[row] = (x, y, x + w, y + h)
        labels = [self.split.label_of(a["category_id"]) for a in anns]
        return {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "image_id": torch.tensor(record["id"], dtype=torch.int64),
        }

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i: int) -> tuple[Tensor, Target]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        i %= len(self)
        image = self._cache[i]
        if image is None:
            image = self._decode(i)
            if self.caching:
                self._cache[i] = image
        target = {k: v.clone() for k, v in self._targets[i].items()}
        return image.clone() if self.caching else image, target

    def _decode(self, i: int) -> Tensor:
        from PIL import Image

        record = self._records[i]
        path = self.split.image_path(record)
        expected = (record["width"], record["height"])
        try:
            with Image.open(path) as im:  # reads the header only
                if im.size != expected:  # before decoding: the file may be far bigger
                    raise DataError(
                        f"image id {record['id']} ({path}) is {im.size[0]}x{im.size[1]}, not "
                        f"{expected[0]}x{expected[1]} as {self.split.annotation_file} says"
                    )
                pixels = np.asarray(im.convert("RGB"))
        except DataError:
            raise
        except Exception as exc:  # Pillow raises many kinds, and plugins patch Image.open
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(
                f"cannot decode image id {record['id']} ({path}): {reason}; "
                "run `hyperseal data check` on the dataset"
            ) from None
        if pixels.shape[:2] != (record["height"], record["width"]):
            raise DataError(
                f"image id {record['id']} ({path}) is {pixels.shape[1]}x{pixels.shape[0]}, "
                f"not {record['width']}x{record['height']} as {self.split.annotation_file} says"
            )
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))

    def preload(self, progress: Progress | None = None) -> None:
        """Decode every image into the cache now (turns caching on).

        Args:
            progress: Receives one step per image.
        """
        self.caching = True
        bar = or_null(progress)
        bar.start("decoding images", total=len(self))
        try:
            for i in range(len(self)):
                if self._cache[i] is None:
                    self._cache[i] = self._decode(i)
                bar.advance(1)
        finally:
            bar.finish()

    @property
    def cached_images(self) -> int:
        """How many decoded images the cache holds."""
        return sum(image is not None for image in self._cache)

    @property
    def num_classes(self) -> int:
        """Number of classes including the background (``K + 1``), as torchvision wants."""
        return len(self.split.categories) + 1

    @property
    def class_names(self) -> list[str]:
        """Names of labels ``1..K``."""
        return self.split.class_names


def collate(batch: Sequence[tuple[Tensor, Target]]) -> tuple[list[Tensor], list[Target]]:
    """Collate for a ``DataLoader``: lists of images and of targets (sizes may differ)."""
    images = [item[0] for item in batch]
    targets = [item[1] for item in batch]
    return images, targets
