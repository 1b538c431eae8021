from __future__ import annotations

import re

import pytest
import torch

from tuner.detectors import ModelSpec, build_detector, count_parameters
from tuner.errors import ModelError
from tuner.train import TrainConfig, build_optimizer

CLASSES = ("car", "pedestrian", "traffic_sign")


def _batch(size: int = 64, n: int = 2) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    targets = [
        {
            "boxes": torch.tensor([[8.0, 10.0, 30.0, 40.0], [35.0, 30.0, 60.0, 50.0]]),
            "labels": torch.tensor([1, 3]),
        },
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ][:n]
    return images, targets


@pytest.mark.parametrize("arch", ["fcos", "retinanet", "fasterrcnn", "ssdlite"])
def test_each_tiny_architecture_trains_two_iterations(arch: str) -> None:
    torch.manual_seed(0)
    model = build_detector(ModelSpec(arch, "tiny", 64, CLASSES))
    optimizer = build_optimizer(model, TrainConfig(lr=0.01))
    images, targets = _batch()
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        losses = model(images, targets)
        loss = sum(losses.values())
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > 0.5 * len(before)
    model.eval()
    with torch.no_grad():
        (out,) = model(images[:1])
    assert set(out) >= {"boxes", "scores", "labels"}
    assert out["boxes"].shape[1] == 4
    assert (out["labels"] >= 1).all() and (out["labels"] <= len(CLASSES)).all()


def test_tiny_fcos_is_small() -> None:
    model = build_detector(ModelSpec("fcos", "tiny", 128, CLASSES))
    assert 0.4e6 < count_parameters(model) < 1.0e6


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "backbone"),
    [
        ("fcos", "mobilenet_v3"),
        ("retinanet", "mobilenet_v3"),
        ("fasterrcnn", "mobilenet_v3"),
        ("ssdlite", "mobilenet_v3"),
        ("fcos", "resnet50"),
        ("retinanet", "resnet50"),
        ("fasterrcnn", "resnet50"),
    ],
)
def test_torchvision_backbones_build_and_train_a_step(arch: str, backbone: str) -> None:
    model = build_detector(ModelSpec(arch, backbone, 64, CLASSES))
    images, targets = _batch()
    loss = sum(model(images, targets).values())
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"arch": "yolo"}, "unknown architecture 'yolo'"),
        ({"backbone": "vit"}, "unknown backbone 'vit'"),
        ({"arch": "ssdlite", "backbone": "resnet50"}, "ssdlite runs on"),
        ({"image_size": 100}, "multiple of 32"),
    ],
)
def test_bad_specs_name_the_problem(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ModelError, match=fragment):
        ModelSpec(**{"classes": CLASSES, **kwargs})


def test_a_model_needs_classes() -> None:
    with pytest.raises(ModelError, match="at least one class"):
        build_detector(ModelSpec())


def test_spec_round_trips_through_plain_data() -> None:
    spec = ModelSpec("retinanet", "tiny", 96, CLASSES)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ModelError, match="incomplete: no backbone, image_size, classes"):
        ModelSpec.from_dict({"arch": "fcos"})
    plain = spec.to_dict()
    for bad, text in (
        ({"classes": "abc"}, "classes must be a list of names"),
        ({"classes": ["a", 1]}, "classes must be a list of names"),
        ({"classes": []}, "no classes (a detector needs one)"),
        ({"image_size": 96.7}, "image_size 96.7 is not a whole number"),
        ({"image_size": True}, "image_size True is not a whole number"),
    ):
        with pytest.raises(ModelError, match=re.escape(text)):
            ModelSpec.from_dict({**plain, **bad})
    with pytest.raises(ModelError, match="not a mapping"):
        ModelSpec.from_dict([plain])  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(10))
def test_tiny_fcos_starts_with_every_box_side_alive(seed: int) -> None:
    # The box regression sits behind a ReLU: a side whose output is negative at every
    # location gets no gradient and never learns (training seed 8 of the demo did, with
    # torchvision's zero bias). The initial bias keeps each side positive nearly everywhere.
    torch.manual_seed(seed)
    model = build_detector(ModelSpec(classes=CLASSES, image_size=128)).eval()
    outputs: list[torch.Tensor] = []
    reg = model.head.regression_head.bbox_reg
    reg.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
    images, _ = _batch(128, 2)
    with torch.no_grad():
        model(images)
    assert len(outputs) == 3  # one per FPN level
    for out in outputs:
        alive = (out > 0).float().mean(dim=(0, 2, 3))  # per side: left, top, right, bottom
        assert alive.min() > 0.9, alive
