"""The attacker's view of a detector's training: its loss and the batches it knows.

hyperseal trains a detector on the sum of the losses torchvision's detector
returns in train mode (:func:`tuner.train.loop.train_detector`), on batches of
``batch_size`` images scaled to ``[0, 1]``. The attack evaluates the same loss,
without augmentation (the attacker cannot replay the random flips, and their
mean effect is small next to the batch noise), on the training images it
knows, grouped in batches of the training batch size: BatchNorm in train mode
normalises by the batch, so batch size changes the gradient.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from audit.errors import AuditOptionError

if TYPE_CHECKING:
    from torch import nn

    from tuner.data.dataset import DetectionDataset

__all__ = ["DetectorBatches", "detector_loss"]

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]


def detector_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The training loss of a torchvision detector on one batch: the sum of its loss terms."""
    images, targets = batch
    losses = model(images, targets)
    return torch.stack([v for v in losses.values()]).sum()


def _chunks(indices: list[int], size: int, drop_last: bool) -> list[list[int]]:
    chunks = [indices[i : i + size] for i in range(0, len(indices), size)]
    if drop_last and len(chunks) > 1 and len(chunks[-1]) < size:
        chunks = chunks[:-1]
    return chunks


class DetectorBatches:
    """Batches of known training images, decoded one batch at a time (re-iterable).

    Args:
        dataset: The training split.
        batch_size: Images per batch (training's, where known).
        fraction: Share of the training images the attacker knows (drawn at
            random with ``seed``).
        seed: Seed of the known subset and of the batch composition.
        drop_last: Leave out a last batch smaller than ``batch_size`` (training
            does); kept when it would be the only batch.

    Raises:
        AuditOptionError: ``fraction`` not in (0, 1], ``batch_size`` < 1, or no image known.
    """

    def __init__(
        self,
        dataset: DetectionDataset,
        batch_size: int,
        *,
        fraction: float = 1.0,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        if not 0 < fraction <= 1:
            raise AuditOptionError(f"known fraction {fraction} must lie in (0, 1]")
        if batch_size < 1:
            raise AuditOptionError(f"batch size {batch_size} must be at least 1")
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(dataset), generator=generator).tolist()
        known = order[: max(1, round(fraction * len(dataset)))] if len(dataset) else []
        if not known:
            raise AuditOptionError("the attacker knows no training image; the dataset is empty")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.known = known
        self.drop_last = drop_last
        self.chunks: list[list[int]] = _chunks(known, self.batch_size, drop_last)

    def rebatched(self, seed: int) -> DetectorBatches:
        """The same known images grouped into batches in another seeded random order."""
        generator = torch.Generator().manual_seed(seed)
        order = [self.known[i] for i in torch.randperm(len(self.known), generator=generator)]
        other = copy.copy(self)
        other.chunks = _chunks(order, self.batch_size, self.drop_last)
        return other

    @property
    def images(self) -> int:
        """Images in the batches (the known images, less a dropped last batch)."""
        return sum(len(c) for c in self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def __iter__(self) -> Iterator[Batch]:
        for chunk in self.chunks:
            yield self.batch(chunk)

    def batch(self, indices: Sequence[int]) -> Batch:
        """Images (float in [0, 1]) and targets (boxes, labels) of ``indices``."""
        images: list[torch.Tensor] = []
        targets: list[dict[str, Any]] = []
        for i in indices:
            image, target = self.dataset[i]
            images.append(image.float().div_(255))
            targets.append({"boxes": target["boxes"], "labels": target["labels"]})
        return images, targets
