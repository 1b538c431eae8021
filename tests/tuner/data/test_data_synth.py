"""The built-in synthetic scenes: valid COCO, boxes that match the pixels, determinism."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from tuner.data._scene import plan_scene, render_scene
from tuner.data.synth import CLASSES, SynthSummary, generate_synthetic, render_image
from tuner.errors import ConfigError


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _all_annotations(synth: SynthSummary) -> list[dict[str, Any]]:
    return [a for f in synth.annotation_files for a in _load(f)["annotations"]]


def test_pycocotools_loads_both_splits(synth: SynthSummary) -> None:
    for path in synth.annotation_files:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(path))
        assert coco.getCatIds() == [1, 2, 3]
        assert [c["name"] for c in coco.loadCats([1, 2, 3])] == list(CLASSES)
        assert len(coco.getAnnIds()) > 0
    assert (synth.train_images, synth.val_images) == (18, 6)


def test_splits_partition_the_images(synth: SynthSummary) -> None:
    train, val = (_load(f) for f in synth.annotation_files)
    train_ids = {img["id"] for img in train["images"]}
    val_ids = {img["id"] for img in val["images"]}
    assert not train_ids & val_ids
    assert train_ids | val_ids == set(range(1, 25))
    files = sorted(p.name for p in (synth.out / "images").iterdir())
    assert files == [f"{i:06d}.png" for i in range(24)]
    for split in (train, val):
        for ann in split["annotations"]:
            assert ann["image_id"] in {img["id"] for img in split["images"]}


def test_every_box_is_inside_its_image_with_positive_size(synth: SynthSummary) -> None:
    anns = _all_annotations(synth)
    assert len(anns) > 40
    assert len({a["id"] for a in anns}) == len(anns)
    for a in anns:
        x, y, w, h = a["bbox"]
        assert all(isinstance(v, int) for v in a["bbox"])
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= 96 and y + h <= 96
        assert 0 < a["area"] <= w * h
        assert a["iscrowd"] == 0


def test_three_classes_occlusion_and_truncation_occur(synth: SynthSummary) -> None:
    anns = _all_annotations(synth)
    assert {a["category_id"] for a in anns} == {1, 2, 3}
    assert all(n > 0 for n in synth.counts.values())
    assert any(a["occlusion"] > 0.05 for a in anns)
    assert any(a["truncation"] > 0.05 for a in anns)
    assert synth.occluded > 0 and synth.truncated > 0
    assert all(a["occlusion"] < 0.6 and a["truncation"] < 0.65 for a in anns)


def test_written_png_is_the_rendered_scene(synth: SynthSummary) -> None:
    for index in (0, 5):
        pixels = np.asarray(Image.open(synth.out / "images" / f"{index:06d}.png"))
        expected, objects = render_image(index, size=96, seed=3)
        assert pixels.dtype == np.uint8 and pixels.shape == (96, 96, 3)
        np.testing.assert_array_equal(pixels, expected)
        anns = [a for a in _all_annotations(synth) if a["image_id"] == index + 1]
        assert [a["bbox"] for a in anns] == [list(o.box) for o in objects]


def _changed_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight box ``(x0, y0, x1, y1)`` (exclusive ends) of the pixels where two images differ."""
    diff = (a != b).any(axis=2)
    if not diff.any():
        return None
    rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@pytest.mark.parametrize("effects", [False, True])
def test_boxes_match_the_drawn_objects(effects: bool) -> None:
    """Render each scene again without one object: what changes is exactly its box.

    Flat drawing: the changed pixels lie inside the box and touch its four sides.
    With effects the blur spreads edges by up to 2 px.
    """
    slack = 2 if effects else 0
    checked = exact = 0
    for index in range(12):
        scene = plan_scene(np.random.default_rng([5, 1, index]), 128)
        full, objects = render_scene(scene, effects=effects)
        for k, obj in enumerate(objects):
            without, _ = render_scene(scene, effects=effects, hide=frozenset({k}))
            changed = _changed_box(full, without)
            assert changed is not None, f"image {index}, object {k} changed no pixel"
            x, y, w, h = obj.box
            cx0, cy0, cx1, cy1 = changed
            assert cx0 >= x - slack and cy0 >= y - slack
            assert cx1 <= x + w + slack and cy1 <= y + h + slack
            checked += 1
            exact += max(abs(cx0 - x), abs(cy0 - y), abs(cx1 - x - w), abs(cy1 - y - h)) <= slack
    assert checked > 30
    assert exact / checked > 0.95


def test_same_seed_same_bytes_other_seed_other_images(tmp_path: Path) -> None:
    runs = [(tmp_path / "a", 7), (tmp_path / "b", 7), (tmp_path / "c", 8)]
    for out, seed in runs:
        generate_synthetic(out, images=5, size=64, seed=seed)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    a, b, c = (files(out) for out, _ in runs)
    assert a == b
    assert a.keys() == c.keys()
    differ = [name for name in a if name.endswith(".png") and a[name] != c[name]]
    assert len(differ) == 5


def test_image_depends_only_on_seed_and_index() -> None:
    first, _ = render_image(3, size=64, seed=11)
    again, _ = render_image(3, size=64, seed=11)
    other, _ = render_image(4, size=64, seed=11)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


@pytest.mark.parametrize("size", [32, 200])
def test_other_sizes_work(tmp_path: Path, size: int) -> None:
    summary = generate_synthetic(tmp_path, images=4, size=size, seed=1, val_fraction=0.5)
    assert (summary.train_images, summary.val_images) == (2, 2)
    for path in summary.annotation_files:
        data = _load(path)
        for img in data["images"]:
            assert (img["width"], img["height"]) == (size, size)
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            assert w > 0 and h > 0 and x + w <= size and y + h <= size


def test_a_dataset_without_a_validation_image_is_refused_before_writing(tmp_path: Path) -> None:
    """Tuning scores every trial on the validation split: a dataset without one is useless."""
    with pytest.raises(ConfigError, match=r"images \(--images\) must be a whole number >= 2"):
        generate_synthetic(tmp_path / "one", images=1, size=48, val_fraction=0.2)
    with pytest.raises(ConfigError, match=r"val_fraction \(--val-fraction\) must lie between"):
        generate_synthetic(tmp_path / "none", images=3, size=48, val_fraction=0.0)
    assert not (tmp_path / "one").exists() and not (tmp_path / "none").exists()
    two = generate_synthetic(tmp_path / "two", images=2, size=48, val_fraction=0.01)
    assert (two.train_images, two.val_images) == (1, 1)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, description: str, total: int | None = None) -> None:
        self.calls.append(("start", total))

    def advance(self, steps: int = 1, **info: Any) -> None:
        self.calls.append(("advance", steps))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def test_progress_gets_one_step_per_image(tmp_path: Path) -> None:
    recorder = Recorder()
    generate_synthetic(tmp_path, images=3, size=48, progress=recorder)
    assert recorder.calls == [("start", 3), *[("advance", 1)] * 3, ("finish", None)]


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"images": 0}, "images"),
        ({"size": 16}, "size"),
        ({"size": 4096}, "size"),
        ({"seed": -1}, "seed"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
    ],
)
def test_bad_parameters_raise_config_error(
    tmp_path: Path, kwargs: dict[str, Any], word: str
) -> None:
    with pytest.raises(ConfigError, match=word):
        generate_synthetic(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
