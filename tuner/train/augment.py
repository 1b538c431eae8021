"""Training augmentation on decoded images: flip, scale jitter, colour jitter.

All randomness comes from one ``torch.Generator`` so training is repeatable.
Images are float tensors in [0, 1] of shape [3, H, W]; boxes are xyxy pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Boxes smaller than this (pixels, either side) after a zoom are dropped.
MIN_BOX_SIDE = 2.0


def augment(
    image: torch.Tensor,
    target: dict[str, torch.Tensor],
    *,
    hflip: float,
    scale_jitter: float,
    color_jitter: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Return an augmented copy of ``image`` and its ``target``."""
    boxes, labels = target["boxes"], target["labels"]
    if hflip > 0 and _uniform(generator) < hflip:
        image = image.flip(-1)
        width = image.shape[-1]
        boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    if scale_jitter > 0:
        factor = 1.0 + scale_jitter * (2.0 * _uniform(generator) - 1.0)
        image, boxes, labels = _zoom(image, boxes, labels, factor, generator)
    if color_jitter > 0:
        image = _color(image, color_jitter, generator)
    return image, {**target, "boxes": boxes, "labels": labels}


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator))


def _zoom(
    image: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    factor: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scale by ``factor``, then crop (zoom in) or pad (zoom out) back to the original size."""
    _, h, w = image.shape
    nh, nw = max(1, round(h * factor)), max(1, round(w * factor))
    scaled = F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
    boxes = boxes * torch.tensor([nw / w, nh / h, nw / w, nh / h])
    if factor >= 1.0:
        top = int(_uniform(generator) * (nh - h + 1))
        left = int(_uniform(generator) * (nw - w + 1))
        image = scaled[:, top : top + h, left : left + w]
        boxes = boxes - torch.tensor([left, top, left, top], dtype=boxes.dtype)
    else:
        top = int(_uniform(generator) * (h - nh + 1))
        left = int(_uniform(generator) * (w - nw + 1))
        canvas = image.new_full(image.shape, 0.5)
        canvas[:, top : top + nh, left : left + nw] = scaled
        image = canvas
        boxes = boxes + torch.tensor([left, top, left, top], dtype=boxes.dtype)
    boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([w, h, w, h], dtype=boxes.dtype))
    keep = ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_SIDE) & (
        (boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_SIDE
    )
    return image, boxes[keep], labels[keep]


def _color(image: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    def factor() -> float:
        return 1.0 + strength * (2.0 * _uniform(generator) - 1.0)

    image = image * factor()  # brightness
    mean = image.mean()
    image = (image - mean) * factor() + mean  # contrast
    gray = image.mean(0, keepdim=True)
    image = (image - gray) * factor() + gray  # saturation
    return image.clamp(0.0, 1.0)
