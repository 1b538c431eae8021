"""The built-in synthetic driving scenes, written as a COCO detection dataset.

Each image is a procedurally drawn road scene seen from a car: sky, a far band of
buildings or trees, a road in perspective with lane markings, kerbs and sidewalks,
and varying light, fog, blur and noise. Three classes are labelled (COCO category
ids 1, 2, 3): cars (rear or front view, sedans, vans, trucks), pedestrians (walking,
various clothes, children) and traffic signs (seven panel types on poles). Trees,
lamp posts, bushes, bins, cones, billboards, buildings and shadows are drawn but
never labelled.

Boxes follow COCO: ``[x, y, w, h]`` is the tight box of the object's *visible*
pixels, in whole pixels, inside the image. Nearer objects occlude farther ones;
an object that would be mostly hidden (under 40 % visible), mostly outside the image
(under 35 % inside) or tiny (under 5 px a side at 128 px) is not drawn at all, so
every drawn object is labelled. Before occlusion, cars are at least 10 px tall,
pedestrians 22 px and sign panels 10 px at 128 px (sizes scale with the image), so
that a detector's stride-8 features see nearly every object. ``area`` is the
number of visible pixels. Annotations also carry ``occlusion`` and ``truncation``:
the fractions hidden by nearer things and cut off by the image border (extra keys
that COCO tools ignore).

Output is deterministic: the same seed, size and image count give the same bytes
(with the same numpy, Pillow and zlib). Image ``i`` depends only on ``(seed, i)``,
so a larger dataset extends a smaller one with the same seed.

Example:
    >>> from pathlib import Path
    >>> summary = generate_synthetic(Path("/tmp/scenes"), images=20, size=96)  # doctest: +SKIP
    >>> summary.train_images, summary.val_images  # doctest: +SKIP
    (16, 4)
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuner.data._scene import SceneObject, plan_scene, render_scene
from tuner.errors import ConfigError
from tuner.outputs import check_output_folder
from tuner.progress import Progress, or_null

#: Class names; the COCO category id of ``CLASSES[i]`` is ``i + 1``.
CLASSES = ("car", "pedestrian", "traffic_sign")
_SUPERCATEGORIES = ("vehicle", "person", "sign")
#: Bumped whenever the drawing changes, so that cached datasets are regenerated.
GENERATOR_VERSION = 1
#: Smallest and largest image side accepted.
MIN_SIZE, MAX_SIZE = 32, 2048

__all__ = [
    "CLASSES",
    "GENERATOR_VERSION",
    "SceneObject",
    "SynthSummary",
    "categories",
    "encode_png",
    "generate_synthetic",
    "render_image",
]


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate_synthetic` wrote.

    Attributes:
        out: The dataset folder.
        images: Number of images.
        size: Image side in pixels.
        seed: The seed.
        train_images: Images in the train split.
        val_images: Images in the validation split.
        train_counts: Objects per class name in the train split.
        val_counts: Objects per class name in the validation split.
        empty_images: Images without any labelled object.
        occluded: Objects partly hidden by nearer things.
        truncated: Objects cut by the image border.
        seconds: Wall-clock time taken.
    """

    out: Path
    images: int
    size: int
    seed: int
    train_images: int
    val_images: int
    train_counts: dict[str, int] = field(default_factory=dict)
    val_counts: dict[str, int] = field(default_factory=dict)
    empty_images: int = 0
    occluded: int = 0
    truncated: int = 0
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Objects per class name over both splits."""
        return {c: self.train_counts.get(c, 0) + self.val_counts.get(c, 0) for c in CLASSES}

    @property
    def annotation_files(self) -> tuple[Path, Path]:
        """The train and validation annotation files."""
        return (
            self.out / "annotations" / "instances_train.json",
            self.out / "annotations" / "instances_val.json",
        )


def categories() -> list[dict[str, Any]]:
    """The COCO ``categories`` of the synthetic scenes."""
    return [
        {"id": i + 1, "name": name, "supercategory": sup}
        for i, (name, sup) in enumerate(zip(CLASSES, _SUPERCATEGORIES, strict=True))
    ]


def render_image(
    index: int, *, size: int = 128, seed: int = 0, effects: bool = True
) -> tuple[np.ndarray, list[SceneObject]]:
    """Render image ``index`` of the dataset ``generate_synthetic(..., seed=seed)`` in memory.

    Args:
        index: Position of the image (0-based; its COCO image id is ``index + 1``).
        size: Image side in pixels.
        seed: Dataset seed.
        effects: ``False`` skips light, fog, blur and noise (the flat drawing).

    Returns:
        The ``[size, size, 3]`` uint8 RGB image and its labelled objects.
    """
    _check_params(1, size, seed, None)
    scene = plan_scene(np.random.default_rng([seed, 1, index]), size)
    return render_scene(scene, effects=effects)


def generate_synthetic(
    out: Path,
    images: int = 500,
    size: int = 128,
    seed: int = 0,
    val_fraction: float = 0.2,
    progress: Progress | None = None,
) -> SynthSummary:
    """Draw ``images`` road scenes and write them as a COCO dataset under ``out``.

    Writes ``out/images/NNNNNN.png`` (lossless) and
    ``out/annotations/instances_{train,val}.json``. Existing files of the same names
    are overwritten; nothing else in ``out`` is touched.

    Args:
        out: Dataset folder (created if missing).
        images: Number of images, at least 2.
        size: Side of the square images in pixels (32 to 2048).
        seed: Non-negative seed; the output is a function of it.
        val_fraction: Share of images in the validation split, in ``(0, 1)``; at least
            one image goes to each split.
        progress: Receives one step per image.

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: A parameter is out of range, or ``out`` cannot be written (a file
            in the way, no permission).
    """
    _check_params(images, size, seed, val_fraction)
    started = time.perf_counter()
    out = Path(out)
    check_output_folder(out, "dataset folder")
    image_dir, ann_dir = out / "images", out / "annotations"
    image_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    val_ids = _val_indices(images, seed, val_fraction)
    tally = _Tally()
    bar = or_null(progress)
    bar.start("drawing scenes", total=images)
    try:
        digits = max(6, len(str(images - 1)))
        for index in range(images):
            pixels, objects = render_image(index, size=size, seed=seed)
            name = f"{index:0{digits}d}.png"
            _write(image_dir / name, encode_png(pixels), durable=False)
            tally.add(index, name, size, "val" if index in val_ids else "train", objects)
            bar.advance(1)
    finally:
        bar.finish()
    info = {
        "description": "hyperseal synthetic driving scenes",
        "generator_version": GENERATOR_VERSION,
        "images": images,
        "size": size,
        "seed": seed,
        "val_fraction": val_fraction,
    }
    _write_annotations(ann_dir, tally, info)
    return SynthSummary(
        out=out,
        images=images,
        size=size,
        seed=seed,
        train_images=len(tally.splits["train"]["images"]),
        val_images=len(tally.splits["val"]["images"]),
        train_counts=tally.counts["train"],
        val_counts=tally.counts["val"],
        empty_images=tally.empty,
        occluded=tally.occluded,
        truncated=tally.truncated,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Tally:
    """The COCO records of each split, and the counts a :class:`SynthSummary` reports."""

    splits: dict[str, dict[str, list[dict[str, Any]]]] = field(
        default_factory=lambda: {
            "train": {"images": [], "annotations": []},
            "val": {"images": [], "annotations": []},
        }
    )
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            "train": dict.fromkeys(CLASSES, 0),
            "val": dict.fromkeys(CLASSES, 0),
        }
    )
    empty: int = 0
    occluded: int = 0
    truncated: int = 0
    ann_id: int = 0  # the last annotation id given

    def add(self, index: int, name: str, size: int, split: str, objects: list[SceneObject]) -> None:
        """Record image ``index`` (file ``name``) and its objects in ``split``."""
        records = self.splits[split]
        records["images"].append(
            {"id": index + 1, "file_name": name, "width": size, "height": size}
        )
        for obj in objects:
            self.ann_id += 1
            records["annotations"].append(_annotation(self.ann_id, index + 1, obj))
            self.counts[split][CLASSES[obj.category - 1]] += 1
            self.occluded += obj.occlusion > 0
            self.truncated += obj.truncation > 0
        self.empty += not objects


def _write_annotations(ann_dir: Path, tally: _Tally, info: dict[str, Any]) -> None:
    """``instances_{train,val}.json``: compact JSON, written durably after the images."""
    for split, data in tally.splits.items():
        doc = {
            "info": {**info, "split": split},
            "licenses": [],
            "images": data["images"],
            "annotations": data["annotations"],
            "categories": categories(),
        }
        text = json.dumps(doc, separators=(",", ":"))
        _write(ann_dir / f"instances_{split}.json", (text + "\n").encode("utf-8"))


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an ``[H, W, 3]`` uint8 image as a PNG with Pillow (zlib level 1, no metadata).

    Level 1: the scenes are noisy, so higher levels save little (about 10 %) for
    much more time. Deterministic for a given Pillow and zlib.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _annotation(ann_id: int, image_id: int, obj: SceneObject) -> dict[str, Any]:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": obj.category,
        "bbox": list(obj.box),
        "area": obj.area,
        "iscrowd": 0,
        "occlusion": obj.occlusion,
        "truncation": obj.truncation,
    }


def _val_indices(images: int, seed: int, val_fraction: float) -> set[int]:
    n_val = round(images * val_fraction)
    if val_fraction > 0 and images >= 2:
        n_val = min(max(n_val, 1), images - 1)
    order = np.random.default_rng([seed, 2]).permutation(images)
    return {int(i) for i in order[:n_val]}


def _check_params(images: int, size: int, seed: int, val_fraction: float | None) -> None:
    """``val_fraction`` None: one image in memory (no dataset, so no splits to fill)."""
    least = 1 if val_fraction is None else 2
    if isinstance(images, bool) or not isinstance(images, int) or images < least:
        each = "" if val_fraction is None else " (an image for each split at least)"
        raise ConfigError(
            f"images (--images) must be a whole number >= {least}{each}, got {images!r}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(
            f"size must be a whole number from {MIN_SIZE} to {MAX_SIZE}, got {size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {seed!r}")
    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        raise ConfigError(
            f"val_fraction (--val-fraction) must lie between 0 and 1, both excluded (the"
            f" validation split scores every trial), got {val_fraction!r}"
        )


def _write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write through the project's one atomic writer (0644 less the umask: data, no secret).

    Images skip the fsync (thousands of them); the annotation files written after them
    are durable and a dataset is only used once its annotations are complete.
    """
    from tuner.errors import DataError
    from tuner.vault.atomic import atomic_write

    atomic_write(path, data, mode=0o644, error=DataError, durable=durable)
