from __future__ import annotations

import torch

from tuner.train.augment import augment


def _scene() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    image = torch.zeros(3, 64, 64)
    image[:, 10:30, 5:25] = 1.0  # a white square where the box is
    target = {"boxes": torch.tensor([[5.0, 10.0, 25.0, 30.0]]), "labels": torch.tensor([2])}
    return image, target


def _box_matches_pixels(image: torch.Tensor, box: torch.Tensor) -> bool:
    x0, y0, x1, y1 = box.round().int().tolist()
    inside = image[0, y0:y1, x0:x1].mean()
    return bool(inside > 0.9)


def test_flip_moves_boxes_with_pixels() -> None:
    image, target = _scene()
    g = torch.Generator().manual_seed(0)
    out, t = augment(image, target, hflip=1.0, scale_jitter=0, color_jitter=0, generator=g)
    assert t["boxes"].tolist() == [[39.0, 10.0, 59.0, 30.0]]
    assert _box_matches_pixels(out, t["boxes"][0])


def test_scale_jitter_keeps_boxes_on_their_objects() -> None:
    for seed in range(20):
        image, target = _scene()
        g = torch.Generator().manual_seed(seed)
        out, t = augment(image, target, hflip=0.0, scale_jitter=0.5, color_jitter=0, generator=g)
        assert out.shape == image.shape
        assert ((t["boxes"] >= 0) & (t["boxes"] <= 64)).all()
        assert len(t["boxes"]) == len(t["labels"])
        for box in t["boxes"]:
            assert _box_matches_pixels(out, box)


def test_augmentation_is_repeatable_for_a_seed() -> None:
    image, target = _scene()
    runs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        runs.append(
            augment(image, target, hflip=0.5, scale_jitter=0.3, color_jitter=0.4, generator=g)
        )
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1]["boxes"], runs[1][1]["boxes"])
    assert float(runs[0][0].min()) >= 0.0 and float(runs[0][0].max()) <= 1.0
