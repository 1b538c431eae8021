"""Turn a ``--data`` argument into validated train and validation splits.

``synthetic`` means the built-in scenes: generated once per ``(size, images, seed)``
into a cache folder and reused. Anything else is a dataset folder ``D``:

* annotations: ``D/annotations/instances_train.json`` and
  ``D/annotations/instances_val.json`` (or COCO's own ``instances_train2017.json``
  and ``instances_val2017.json``);
* images of split ``s`` (``train`` or ``val``): the first folder that exists of
  ``D/images/s``, ``D/images``, ``D/s``, ``D/s2017``. So one shared ``D/images/``,
  per-split folders ``D/train/`` and ``D/val/``, and COCO's ``D/train2017/`` and
  ``D/val2017/`` all work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tuner.data.coco import CocoSplit, load_coco, require_folder
from tuner.data.synth import GENERATOR_VERSION, generate_synthetic
from tuner.errors import DataError
from tuner.progress import Progress

__all__ = [
    "DataSplits",
    "cache_root",
    "find_splits",
    "load_folder",
    "resolve_data",
    "synthetic_folder",
]

SPLITS = ("train", "val")
#: Temporary folders left by killed runs are removed once older than this (seconds).
_STALE_AFTER = 3600.0
#: How many validated dataset folders this process remembers (see :func:`load_folder`).
_REMEMBERED = 2


@dataclass(frozen=True)
class DataSplits:
    """The two splits a training run uses.

    Attributes:
        train: Training split.
        val: Validation split (same categories).
        source: ``"synthetic"`` or the dataset folder.
    """

    train: CocoSplit
    val: CocoSplit
    source: str

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (label 0 is the background)."""
        return self.train.class_names

    def fingerprint(self) -> str:
        """SHA-256 over the train and val annotation files: identifies the data a recipe was
        tuned on (recorded by ``hyperseal tune``, checked by ``hyperseal audit model``)."""
        digest = hashlib.sha256()
        for split in (self.train, self.val):
            digest.update(Path(split.annotation_file).read_bytes())
        return digest.hexdigest()


def cache_root(cache_dir: Path | None = None) -> Path:
    """Where generated datasets are cached.

    ``cache_dir`` if given, else ``$HYPERSEAL_CACHE``, else ``~/.cache/hyperseal``.
    """
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("HYPERSEAL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hyperseal"


def synthetic_folder(
    *, images: int = 500, size: int = 128, seed: int = 0, cache_dir: Path | None = None
) -> Path:
    """The cache folder of the synthetic dataset with these parameters."""
    return cache_root(cache_dir) / f"synthetic-s{size}-n{images}-seed{seed}"


def resolve_data(
    spec: str | Path,
    *,
    images: int = 500,
    size: int = 128,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    check_images: bool = True,
) -> DataSplits:
    """Resolve ``synthetic`` or a dataset folder into validated splits.

    Args:
        spec: ``"synthetic"`` or a COCO dataset folder (layout in the module docs).
        images: Synthetic only: number of images.
        size: Synthetic only: image side in pixels.
        seed: Synthetic only: seed.
        cache_dir: Synthetic only: cache root (see :func:`cache_root`).
        progress: Receives the generation's progress when scenes are drawn.
        check_images: A folder only: also open and verify every image (see
            :func:`load_folder`); the synthetic scenes are written by us and never are.

    Returns:
        The train and validation splits.

    Raises:
        DataError: The folder is unusable or a split is invalid or empty.
        ConfigError: A synthetic parameter is out of range.
    """
    if str(spec) == "synthetic":
        folder = _ensure_synthetic(images, size, seed, cache_dir, progress)
        # Written by us and stamped complete: skip re-reading every image header.
        splits = load_folder(folder, check_images=False)
        return DataSplits(splits.train, splits.val, "synthetic")
    return load_folder(Path(spec).expanduser(), check_images=check_images)


def find_splits(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Annotation file and images folder of each split of a dataset folder.

    Raises:
        DataError: The folder, an annotation file or an images folder is missing.
    """
    folder = Path(folder)
    require_folder(
        folder,
        "dataset",
        "; give 'synthetic' or a folder with "
        "annotations/instances_train.json and annotations/instances_val.json",
    )
    found: dict[str, tuple[Path, Path]] = {}
    for split in SPLITS:
        names = (f"instances_{split}.json", f"instances_{split}2017.json")
        files = [folder / "annotations" / n for n in names]
        ann = next((f for f in files if f.is_file()), None)
        if ann is None:
            raise DataError(
                f"{folder}: no annotations/instances_{split}.json; a dataset folder holds "
                f"annotations/instances_train.json and annotations/instances_val.json"
            )
        dirs = [
            folder / "images" / split,
            folder / "images",
            folder / split,
            folder / f"{split}2017",
        ]
        img = next((d for d in dirs if d.is_dir()), None)
        if img is None:
            raise DataError(
                f"{folder}: no images folder for the {split} split; put the images in "
                f"{folder / 'images'} (or {split}/, {split}2017/)"
            )
        found[split] = (ann, img)
    return found


def load_folder(folder: Path, *, check_images: bool = True) -> DataSplits:
    """Load and validate both splits of a dataset folder (layout in the module docs).

    A tuning run reads its dataset several times (the option checks, the dataset's
    fingerprint, every new best model), and a full check opens every image; so the
    splits of the last folders validated are remembered in this process and given
    again, without parsing or opening anything, while both annotation files hold the
    same bytes and both images folders the same modification time (an image added,
    removed or renamed changes it; an image rewritten in place does not). The splits
    given are shared: treat them as read-only.

    Raises:
        DataError: The folder is unusable, a split is invalid, has no images or no
            objects, or the two splits' categories differ.
    """
    found = find_splits(folder)
    signature = _signature(found)
    remembered = _remembered(signature, check_images)
    if remembered is not None:
        return DataSplits(remembered.train, remembered.val, str(folder))
    train = load_coco(*found["train"], check_images=check_images)
    val = load_coco(*found["val"], check_images=check_images)
    for name, split in (("train", train), ("val", val)):
        if not split.images:
            raise DataError(f"{split.annotation_file}: the {name} split has no images")
        if not sum(split.counts().values()):
            raise DataError(
                f"{split.annotation_file}: the {name} split has no objects (crowd regions"
                f" aside), so {_USELESS[name]}; annotate objects in some of its images"
            )
    mine = [(c["id"], c["name"]) for c in train.categories]
    theirs = [(c["id"], c["name"]) for c in val.categories]
    if mine != theirs:
        raise DataError(
            f"{folder}: train and val categories differ ({_names(mine)} vs {_names(theirs)}); "
            "give both splits the same 'categories'"
        )
    splits = DataSplits(train, val, str(folder))
    _remember(signature, splits, check_images)
    return splits


#: What a split without objects would do to a tuning run.
_USELESS = {
    "train": "a detector trained on it learns nothing",
    "val": "every config would score mAP 0 on it",
}

_Signature = tuple[tuple[str, str], ...]
_validated: OrderedDict[_Signature, tuple[DataSplits, bool]] = OrderedDict()
_validated_lock = threading.Lock()


def _signature(found: dict[str, tuple[Path, Path]]) -> _Signature | None:
    """What identifies the folder's files now; None when one cannot be read.

    Annotation files by their content's hash (reading a file is far cheaper than
    parsing and checking it); images folders by modification time and inode.
    """
    parts = []
    try:
        for split in SPLITS:
            annotations, images = found[split]
            parts.append((str(annotations.resolve()), _sha256(annotations)))
            info = images.stat()
            parts.append((str(images.resolve()), f"{info.st_mtime_ns}:{info.st_ino}"))
    except OSError:
        return None
    return tuple(parts)


def _sha256(path: Path) -> str:
    from tuner.bounded import annotation_limits, check_file, with_hint

    limit, _, hint = annotation_limits(DataError)
    try:
        check_file(path, limit, "the annotation file", DataError)  # not /dev/zero
    except DataError as exc:
        raise DataError(with_hint(str(exc), hint)) from None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _remembered(signature: _Signature | None, check_images: bool) -> DataSplits | None:
    if signature is None:
        return None
    with _validated_lock:
        entry = _validated.get(signature)
        if entry is None or (check_images and not entry[1]):
            return None
        _validated.move_to_end(signature)
        return entry[0]


def _remember(signature: _Signature | None, splits: DataSplits, checked: bool) -> None:
    if signature is None:
        return
    with _validated_lock:
        _validated[signature] = (splits, checked)
        _validated.move_to_end(signature)
        while len(_validated) > _REMEMBERED:
            _validated.popitem(last=False)


def _names(cats: list[tuple[int, str]]) -> str:
    return ", ".join(f"{i}:{n}" for i, n in cats)


def _ensure_synthetic(
    images: int, size: int, seed: int, cache_dir: Path | None, progress: Progress | None
) -> Path:
    """Generate the dataset into the cache unless a complete, current copy is there."""
    final = synthetic_folder(images=images, size=size, seed=seed, cache_dir=cache_dir)
    stamp = f"version={GENERATOR_VERSION} size={size} images={images} seed={seed}\n"
    if _stamp(final) == stamp:
        return final
    root = final.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the dataset cache {root}: {exc.strerror or exc}; "
            "set HYPERSEAL_CACHE to a writable folder"
        ) from None
    from tuner.vault.atomic import atomic_write

    _remove_stale(root, final.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        generate_synthetic(tmp, images=images, size=size, seed=seed, progress=progress)
        atomic_write(tmp / "COMPLETE", stamp.encode("utf-8"), mode=0o644, error=DataError)
        if final.exists():  # an older generator's copy, or a concurrent run's
            if _stamp(final) == stamp:
                return final
            old = root / f".{final.name}.old-{os.getpid()}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:
            if _stamp(final) != stamp:  # not a concurrent run that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _stamp(folder: Path) -> str | None:
    try:
        return (folder / "COMPLETE").read_text(encoding="utf-8")
    except OSError:
        return None


def _remove_stale(root: Path, name: str) -> None:
    """Remove temporary folders of this dataset that killed runs left behind."""
    now = time.time()
    for path in root.glob(f".{name}.*"):
        try:
            if now - path.stat().st_mtime > _STALE_AFTER:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
