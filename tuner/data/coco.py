"""COCO detection datasets from users: load one split and validate it up front.

:func:`load_coco` reads an instances json (``images``, ``annotations``,
``categories``) and checks everything training and evaluation will rely on, so that
a broken dataset fails at once with one line saying what is wrong, where (file,
image or annotation id) and how to fix it, instead of an obscure error mid-training.

Rules:

* Category ids may be any whole numbers >= 0, with gaps; they map to contiguous
  labels ``1..K`` in increasing id order (label 0 is the background).
* An image without annotations is valid (a negative example).
* A box ``[x, y, w, h]`` must have ``w > 0`` and ``h > 0`` and lie inside its image.
  Up to :data:`BOX_TOLERANCE` pixels over the border are forgiven (float rounding
  of exporters) and the box is clipped to the image in memory; the file is not
  changed.
* ``iscrowd`` annotations (``iscrowd: 1``) are validated and kept: evaluation treats
  them as regions to ignore, training leaves them out of the targets. A missing
  ``iscrowd`` means 0; a missing ``area`` means ``w * h`` of the (clipped) box.
* Image files are looked up under the images folder by ``file_name`` (which may
  hold sub-folders but may not be absolute or climb out with ``..``), opened and
  verified with Pillow, and their size must match ``width`` and ``height``. EXIF
  orientation is not applied: boxes refer to the stored pixels, as in COCO.

When several records are broken the error names the first and counts the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from tuner.bounded import annotation_limits, load_json, with_hint
from tuner.errors import DataError

#: How far, in pixels, a box may cross its image's border before it is an error.
BOX_TOLERANCE = 1.0
#: The most pixels (width x height) an image may have: decoded as RGB it takes three
#: bytes a pixel (48 MiB at the limit), checked on the json and on the file's header.
MAX_IMAGE_PIXELS = 16 * 1024 * 1024

__all__ = ["BOX_TOLERANCE", "MAX_IMAGE_PIXELS", "CocoSplit", "load_coco"]


@dataclass(frozen=True)
class CocoSplit:
    """One validated split of a COCO detection dataset.

    Attributes:
        annotation_file: The instances json it was read from.
        images_dir: The folder ``file_name`` is relative to.
        categories: COCO categories sorted by id.
        images: COCO image records, in file order.
        annotations: Image id to its annotations, in file order; every image id is a
            key (with an empty list when the image has no objects). Boxes are clipped
            to the image, ``iscrowd`` and ``area`` always present.
    """

    annotation_file: Path
    images_dir: Path
    categories: list[dict[str, Any]]
    images: list[dict[str, Any]]
    annotations: dict[int, list[dict[str, Any]]]

    def __repr__(self) -> str:
        objects = sum(len(a) for a in self.annotations.values())
        return (
            f"CocoSplit({str(self.annotation_file)!r}: {len(self.images)} images,"
            f" {objects} objects, classes {self.class_names})"
        )

    @property
    def class_names(self) -> list[str]:
        """Category names in category-id order (label ``i`` is ``class_names[i - 1]``)."""
        return [c["name"] for c in self.categories]

    @cached_property
    def _labels(self) -> dict[int, int]:
        return {c["id"]: i + 1 for i, c in enumerate(self.categories)}

    def label_of(self, category_id: int) -> int:
        """Contiguous label ``1..K`` of a COCO category id (0 is the background).

        Raises:
            DataError: The id is not one of this split's categories.
        """
        try:
            return self._labels[category_id]
        except KeyError:
            raise DataError(
                f"{self.annotation_file}: category id {category_id} is not among its "
                f"categories {sorted(self._labels)}"
            ) from None

    def category_of(self, label: int) -> int:
        """COCO category id of a contiguous label ``1..K``.

        Raises:
            ValueError: ``label`` is not in ``1..K``.
        """
        if not 1 <= label <= len(self.categories):
            raise ValueError(f"label {label} is not in 1..{len(self.categories)}")
        return int(self.categories[label - 1]["id"])

    def image_path(self, image: dict[str, Any]) -> Path:
        """The file of an image record."""
        return self.images_dir / image["file_name"]

    @property
    def num_annotations(self) -> int:
        """Number of annotations, crowd ones included."""
        return sum(len(a) for a in self.annotations.values())

    def counts(self) -> dict[str, int]:
        """Objects per class name (crowd annotations excluded)."""
        by_id = {c["id"]: c["name"] for c in self.categories}
        out = dict.fromkeys(self.class_names, 0)
        for anns in self.annotations.values():
            for a in anns:
                if not a["iscrowd"]:
                    out[by_id[a["category_id"]]] += 1
        return out

    def as_coco_dict(self) -> dict[str, Any]:
        """The split as a COCO dict (validated, clipped boxes), e.g. for ``COCOeval``.

        Example:
            >>> from pycocotools.coco import COCO  # doctest: +SKIP
            >>> gt = COCO(); gt.dataset = split.as_coco_dict(); gt.createIndex()  # doctest: +SKIP
        """
        return {
            "images": list(self.images),
            "annotations": [a for img in self.images for a in self.annotations[img["id"]]],
            "categories": list(self.categories),
        }


def load_coco(annotation_file: Path, images_dir: Path, *, check_images: bool = True) -> CocoSplit:
    """Read and validate one COCO detection split.

    Args:
        annotation_file: An instances json (``images``, ``annotations``, ``categories``).
        images_dir: The folder the images' ``file_name`` is relative to.
        check_images: Also open every image file and compare its size with the json
            (a fast header read plus Pillow's ``verify``).

    Returns:
        The validated split.

    Raises:
        DataError: One line naming the file, the record and the fault.
    """
    annotation_file, images_dir = Path(annotation_file), Path(images_dir)
    raw = _read_json(annotation_file)
    where = str(annotation_file)
    require_folder(
        images_dir,
        "images folder",
        f" (for {where}); point it at the folder holding the images named in 'file_name'",
    )
    if not isinstance(raw, dict):
        hint = " (it looks like detection results, not a dataset)" if isinstance(raw, list) else ""
        raise DataError(
            f"{where}: not a COCO detection file{hint}; expected a JSON object with "
            "'images', 'annotations' and 'categories'"
        )
    for key in ("images", "annotations", "categories"):
        if key not in raw:
            raise DataError(
                f"{where}: not a COCO detection file: no '{key}' list; "
                "expected 'images', 'annotations' and 'categories'"
            )
        if not isinstance(raw[key], list):
            raise DataError(
                f"{where}: '{key}' must be a list, not {type(raw[key]).__name__}; "
                "is this a COCO instances file?"
            )
    problems = _Problems(where)
    categories = _categories(raw["categories"], where)
    images = _images(raw["images"], where)
    by_image: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in images}
    sizes = {img["id"]: (img["width"], img["height"]) for img in images}
    cat_ids = {c["id"] for c in categories}
    seen: set[int] = set()
    for pos, ann in enumerate(raw["annotations"]):
        checked = _annotation(ann, pos, where, seen, sizes, cat_ids, problems)
        if checked is not None:
            by_image[checked["image_id"]].append(checked)
    problems.raise_first()
    if check_images:
        _check_image_files(images, images_dir, problems)
        problems.raise_first()
    return CocoSplit(annotation_file, images_dir, categories, images, by_image)


# ---------------------------------------------------------------------------- parts


class _Problems:
    """Collects per-record faults; raises the first with a count of the rest."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.first: str | None = None
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = message

    def raise_first(self) -> None:
        if self.first is None:
            return
        more = f" (and {self.count - 1} more problems)" if self.count > 1 else ""
        raise DataError(f"{self.where}: {self.first}{more}")


def require_folder(path: Path, name: str, advice: str) -> None:
    """Raise ``DataError("<name> not found: <path><advice>")`` (or "is not a folder")
    unless ``path`` is a folder."""
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "not found"
        raise DataError(f"{name} {what}: {path}{advice}")


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise DataError(
            f"annotation file not found: {path}; give the path of a COCO instances json"
        )
    if path.is_dir():
        raise DataError(f"annotation file is not a file: {path}; give a COCO instances json")
    limit, memory, hint = annotation_limits(DataError)
    try:
        return load_json(
            path, limit, "the annotation file", DataError, memory_limit=memory, hint=hint
        )
    except DataError as exc:
        raise DataError(with_hint(str(exc), hint)) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unique_id(record: Any, section: str, pos: int, where: str, seen: set[int]) -> int:
    """The id of ``section[pos]`` (``images`` or ``annotations``): a whole number not in
    ``seen``, added to it."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: {section}[{pos}] is not an object")
    rid = record.get("id")
    if not _is_int(rid):
        raise DataError(f"{where}: {section}[{pos}] has id {rid!r}; ids are whole numbers")
    if rid in seen:
        noun = {"images": "image", "annotations": "annotation"}[section]
        raise DataError(f"{where}: {noun} id {rid} appears twice; ids must be unique")
    seen.add(rid)
    return rid


def _categories(raw: list[Any], where: str) -> list[dict[str, Any]]:
    if not raw:
        raise DataError(f"{where}: 'categories' is empty; a detection dataset needs classes")
    ids: set[int] = set()
    names: dict[str, int] = {}
    out = []
    for pos, cat in enumerate(raw):
        if not isinstance(cat, dict):
            raise DataError(f"{where}: categories[{pos}] is not an object")
        cid, name = cat.get("id"), cat.get("name")
        if not _is_int(cid) or cid < 0:
            raise DataError(
                f"{where}: categories[{pos}] has id {cid!r}; ids are whole numbers >= 0"
            )
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where}: category id {cid} has no name; give it a 'name'")
        if cid in ids:
            raise DataError(f"{where}: category id {cid} appears twice; ids must be unique")
        if name in names:
            raise DataError(
                f"{where}: category name {name!r} is used by ids {names[name]} and {cid}; "
                "merge or rename them"
            )
        ids.add(cid)
        names[name] = cid
        out.append(dict(cat))
    return sorted(out, key=lambda c: c["id"])


def _images(raw: list[Any], where: str) -> list[dict[str, Any]]:
    ids: set[int] = set()
    out = []
    for pos, img in enumerate(raw):
        iid = _unique_id(img, "images", pos, where, ids)
        name = img.get("file_name")
        if not isinstance(name, str) or not name:
            raise DataError(f"{where}: image id {iid} has no 'file_name'")
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            raise DataError(
                f"{where}: image id {iid} has file_name {name!r}, which leaves the images "
                "folder; give a path relative to it"
            )
        record = dict(img)
        for key in ("width", "height"):
            value = img.get(key)
            if not _is_number(value) or value != int(value) or value <= 0:
                raise DataError(
                    f"{where}: image id {iid} has {key} {value!r}; give its size in pixels"
                )
            record[key] = int(value)
        if record["width"] * record["height"] > MAX_IMAGE_PIXELS:
            raise DataError(
                f"{where}: image id {iid} is {record['width']}x{record['height']} pixels, over "
                f"the limit of {MAX_IMAGE_PIXELS} pixels; resize it"
            )
        out.append(record)
    return out


def _annotation(
    ann: Any,
    pos: int,
    where: str,
    seen: set[int],
    sizes: dict[int, tuple[int, int]],
    cat_ids: set[int],
    problems: _Problems,
) -> dict[str, Any] | None:
    aid = _unique_id(ann, "annotations", pos, where, seen)
    iid, cid = ann.get("image_id"), ann.get("category_id")
    if not _is_int(iid) or not _is_int(cid):
        raise DataError(
            f"{where}: annotation id {aid} needs whole-number 'image_id' and 'category_id'"
        )
    if "bbox" not in ann:
        raise DataError(
            f"{where}: annotation id {aid} has no 'bbox' (is this a captions or keypoints "
            "file?); give [x, y, width, height]"
        )
    box = ann["bbox"]
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise DataError(
            f"{where}: annotation id {aid} has bbox {box!r}; give four finite numbers "
            "[x, y, width, height]"
        )
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1):  # also accepts False/True
        raise DataError(f"{where}: annotation id {aid} has iscrowd {crowd!r}; use 0 or 1")
    area = ann.get("area")
    if area is not None and not _is_number(area):
        raise DataError(f"{where}: annotation id {aid} has area {area!r}; give a number")
    if iid not in sizes:
        problems.add(
            f"annotation id {aid} points at image id {iid}, which is not in 'images'; "
            "add the image or delete the annotation"
        )
        return None
    if cid not in cat_ids:
        problems.add(
            f"annotation id {aid} (image id {iid}) has category id {cid}, which is not in "
            "'categories'; add the category or fix the annotation"
        )
        return None
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        problems.add(
            f"annotation id {aid} (image id {iid}) has a box of non-positive size "
            f"{_fmt(box)}; fix or delete the annotation"
        )
        return None
    width, height = sizes[iid]
    tol = BOX_TOLERANCE
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        problems.add(
            f"annotation id {aid} (image id {iid}) has box {_fmt(box)} outside its "
            f"{width}x{height} image; fix the box (or the image's width/height)"
        )
        return None
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        problems.add(
            f"annotation id {aid} (image id {iid}) has box {_fmt(box)} with no part inside "
            f"its {width}x{height} image; fix or delete the annotation"
        )
        return None
    record = dict(ann)
    record["bbox"] = [x0, y0, x1 - x0, y1 - y0]
    record["iscrowd"] = int(crowd)
    record["area"] = float(area) if area is not None else (x1 - x0) * (y1 - y0)
    return record


def _check_image_files(images: list[dict[str, Any]], images_dir: Path, problems: _Problems) -> None:
    from PIL import Image

    for img in images:
        path = images_dir / img["file_name"]
        iid = img["id"]
        if not path.is_file():
            problems.add(
                f"image id {iid}: file not found: {path}; copy the image there or fix "
                "'file_name' (or the images folder)"
            )
            continue
        try:
            with Image.open(path) as im:
                size = im.size
                im.verify()
        except Exception as exc:  # Pillow raises many kinds for broken files
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            problems.add(f"image id {iid}: cannot read {path} as an image ({reason}); replace it")
            continue
        if size != (img["width"], img["height"]):
            problems.add(
                f"image id {iid}: {path} is {size[0]}x{size[1]} but the json says "
                f"{img['width']}x{img['height']}; fix 'width'/'height' or the image"
            )


def _fmt(box: list[Any]) -> str:
    return "[" + ", ".join(f"{float(v):g}" for v in box) + "]"
