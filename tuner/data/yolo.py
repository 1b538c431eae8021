"""Export a COCO dataset folder to the YOLO layout (Ultralytics and its kin).

Writes::

    OUT/images/{train,val}/<image>     copies of the images
    OUT/labels/{train,val}/<image>.txt one line per object: class cx cy w h (0..1)
    OUT/data.yaml                      path, train, val and the class names

Classes are numbered from 0 in the COCO category order (``CocoSplit.class_names``),
so a model trained on the export names its classes as hyperseal does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tuner.data.coco import CocoSplit
from tuner.errors import DataError


@dataclass(frozen=True)
class YoloExport:
    """What :func:`export_yolo` wrote."""

    data_yaml: Path
    train_images: int
    val_images: int
    objects: int
    classes: tuple[str, ...]


def export_yolo(folder: Path, out: Path) -> YoloExport:
    """Write the COCO dataset in ``folder`` to ``out`` in the YOLO layout.

    Raises:
        DataError: ``folder`` is not a valid COCO dataset folder, or two images of a
            split share a file name.
        ConfigError: ``out`` is not a new or empty folder.
    """
    import yaml

    from tuner.data.resolve import load_folder
    from tuner.outputs import check_output_folder

    check_output_folder(out, "YOLO dataset folder", if_not_empty="choose a new folder")
    splits = load_folder(Path(folder))
    objects = 0
    for name, split in (("train", splits.train), ("val", splits.val)):
        objects += _write_split(split, out, name)
    classes = tuple(splits.train.class_names)
    data = {
        "path": str(Path(out).resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(classes)),
    }
    data_yaml = Path(out) / "data.yaml"
    _write(data_yaml, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))
    train, val = len(splits.train.images), len(splits.val.images)
    return YoloExport(data_yaml, train, val, objects, classes)


def _write_split(split: CocoSplit, out: Path, name: str) -> int:
    images, labels = Path(out) / "images" / name, Path(out) / "labels" / name
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    index = {c["id"]: i for i, c in enumerate(split.categories)}
    seen: set[str] = set()
    objects = 0
    for image in split.images:
        source = split.images_dir / image["file_name"]
        target = Path(source.name)
        if target.name in seen:
            raise DataError(
                f"{split.annotation_file}: two {name} images are named {target.name}; the YOLO"
                " layout keeps one folder per split, so rename one"
            )
        seen.add(target.name)
        _write(images / target.name, source.read_bytes())
        width, height = float(image["width"]), float(image["height"])
        lines = []
        for ann in split.annotations[image["id"]]:
            if ann.get("iscrowd"):
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            if w <= 0 or h <= 0:
                continue
            cx, cy = (x + w / 2) / width, (y + h / 2) / height
            lines.append(
                f"{index[ann['category_id']]} {cx:.6f} {cy:.6f} {w / width:.6f} {h / height:.6f}"
            )
        objects += len(lines)
        _write(labels / f"{target.stem}.txt", "".join(f"{line}\n" for line in lines).encode())
    return objects


def _write(path: Path, data: bytes) -> None:
    """One file of the export, through the project's writer (not fsynced: a copy)."""
    from tuner.errors import OutputError
    from tuner.vault.atomic import atomic_write

    atomic_write(path, data, error=OutputError, durable=False)
