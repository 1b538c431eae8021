"""resolve_data: the cached synthetic dataset and the dataset-folder layouts."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import tuner.data.resolve as resolve_mod
from tuner.data.resolve import find_splits, resolve_data, synthetic_folder
from tuner.errors import DataError

SMALL = {"images": 6, "size": 48, "seed": 4}


def test_synthetic_is_generated_once_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    splits = resolve_data("synthetic", cache_dir=tmp_path, **SMALL)
    folder = tmp_path / "synthetic-s48-n6-seed4"
    assert splits.source == "synthetic"
    assert splits.class_names == ["car", "pedestrian", "traffic_sign"]
    assert len(splits.train.images) + len(splits.val.images) == 6
    assert splits.train.images_dir == folder / "images"
    assert (folder / "COMPLETE").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary left

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("generated again")

    monkeypatch.setattr(resolve_mod, "generate_synthetic", fail)
    again = resolve_data("synthetic", cache_dir=tmp_path, **SMALL)
    assert again.train.images == splits.train.images


def test_cache_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERSEAL_CACHE", str(tmp_path / "env-cache"))
    assert synthetic_folder(**SMALL) == tmp_path / "env-cache" / "synthetic-s48-n6-seed4"
    resolve_data("synthetic", **SMALL)
    assert (tmp_path / "env-cache" / "synthetic-s48-n6-seed4" / "COMPLETE").is_file()
    monkeypatch.delenv("HYPERSEAL_CACHE")
    assert synthetic_folder(**SMALL).parent == Path.home() / ".cache" / "hyperseal"


def test_killed_generation_leaves_no_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(out: Path, **kwargs: Any) -> None:
        (out / "images").mkdir()
        (out / "images" / "000000.png").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(resolve_mod, "generate_synthetic", killed)
    with pytest.raises(KeyboardInterrupt):
        resolve_data("synthetic", cache_dir=tmp_path, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_incomplete_or_outdated_cache_is_regenerated(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic-s48-n6-seed4"
    (folder / "images").mkdir(parents=True)
    (folder / "COMPLETE").write_text("version=0 size=48 images=6 seed=4\n")
    splits = resolve_data("synthetic", cache_dir=tmp_path, **SMALL)
    assert len(splits.train.images) + len(splits.val.images) == 6
    assert "version=0" not in (folder / "COMPLETE").read_text()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


def test_stale_temporaries_are_cleaned(tmp_path: Path) -> None:
    stale = tmp_path / ".synthetic-s48-n6-seed4.tmp-old"
    stale.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    resolve_data("synthetic", cache_dir=tmp_path, **SMALL)
    assert not stale.exists()


def test_folder_with_shared_images(coco: Any) -> None:
    root = coco.both()
    splits = resolve_data(root)
    assert splits.source == str(root)
    assert splits.train.images_dir == root / "images"
    assert splits.class_names == ["bike", "truck"]
    assert resolve_data(str(root)).val.annotation_file == root / "annotations/instances_val.json"
    # A notebook shows a summary, not every annotation.
    shown = repr(splits.train)
    assert f"{len(splits.train.images)} images" in shown and "'bike', 'truck'" in shown
    assert "bbox" not in repr(splits)


@pytest.mark.parametrize("layout", ["train", "train2017", "images/train"])
def test_folder_with_per_split_images(coco: Any, layout: str) -> None:
    root = coco.both()
    for split in ("train", "val"):
        target = root / layout.replace("train", split)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(root / "images", target, ignore=shutil.ignore_patterns("train", "val"))
    if layout != "images/train":
        shutil.rmtree(root / "images")
    splits = resolve_data(root)
    assert splits.train.images_dir == root / layout
    assert splits.val.images_dir == root / layout.replace("train", "val")


def test_coco_2017_annotation_names(coco: Any) -> None:
    root = coco.both()
    for split in ("train", "val"):
        old = root / "annotations" / f"instances_{split}.json"
        old.rename(root / "annotations" / f"instances_{split}2017.json")
    assert resolve_data(root).train.annotation_file.name == "instances_train2017.json"


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset not found") as info:
        resolve_data(tmp_path / "missing")
    assert "synthetic" in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        resolve_data(tmp_path / "file")


def test_missing_annotations(coco: Any) -> None:
    coco.write(split="train")
    with pytest.raises(DataError, match=r"no annotations/instances_val\.json"):
        find_splits(coco.root)


def test_missing_images_folder(coco: Any) -> None:
    root = coco.both()
    shutil.rmtree(root / "images")
    with pytest.raises(DataError, match="no images folder for the train split"):
        resolve_data(root)


def test_invalid_split_is_reported(coco: Any, edited: Any) -> None:
    coco.write(split="train")
    coco.write(edited(lambda d: d["annotations"][0].update(image_id=5)), split="val")
    with pytest.raises(DataError, match=r"instances_val\.json: annotation id 1 points at image"):
        resolve_data(coco.root)


def test_empty_split_is_refused(coco: Any, edited: Any) -> None:
    coco.write(split="train")
    coco.write(edited(lambda d: d.update(images=[], annotations=[])), split="val")
    with pytest.raises(DataError, match="the val split has no images"):
        resolve_data(coco.root)


@pytest.mark.parametrize(
    ("split", "why"), [("val", "every config would score mAP 0"), ("train", "learns nothing")]
)
def test_a_split_without_objects_is_refused(coco: Any, edited: Any, split: str, why: str) -> None:
    coco.write(split="train" if split == "val" else "val")
    coco.write(edited(lambda d: d.update(annotations=[])), split=split)
    with pytest.raises(DataError, match=f"the {split} split has no objects .*, so .*{why}"):
        resolve_data(coco.root)


def test_categories_must_agree(coco: Any, edited: Any) -> None:
    coco.write(split="train")
    coco.write(edited(lambda d: d["categories"][0].update(name="lorry")), split="val")
    with pytest.raises(DataError, match="train and val categories differ"):
        resolve_data(coco.root)


def _counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record the check_images flag of every split load_folder parses from now on."""
    calls: list[bool] = []
    real = resolve_mod.load_coco

    def counted(*args: Any, check_images: bool = True) -> Any:
        calls.append(check_images)
        return real(*args, check_images=check_images)

    monkeypatch.setattr(resolve_mod, "load_coco", counted)
    return calls


def test_an_unchanged_folder_is_checked_once(coco: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tuning run resolves its data several times (checks, fingerprint, each new best);
    # on a large dataset each full check opens every image.
    root = coco.both()
    calls = _counting_loads(monkeypatch)
    first = resolve_data(root)
    again = resolve_data(str(root))
    assert calls == [True, True]  # both splits, once
    assert again.train is first.train and again.source == str(root)
    assert resolve_mod.load_folder(root, check_images=False).val is first.val
    assert calls == [True, True]


def test_a_changed_folder_is_checked_again(
    coco: Any, edited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = coco.both()
    resolve_data(root)
    # Same size, new bytes: the annotation file's content decides, not its time.
    coco.write(edited(lambda d: d["annotations"][0].update(image_id=55)), split="val")
    with pytest.raises(DataError, match="annotation id 1 points at image id 55"):
        resolve_data(root)
    coco.write(split="val")
    resolve_data(root)
    (root / "images" / "b.png").unlink()
    os.utime(root / "images", ns=(time.time_ns() + 10**9,) * 2)  # file systems keep ms
    with pytest.raises(DataError, match=r"b\.png"):
        resolve_data(root)


def test_a_light_load_is_not_taken_for_a_full_check(
    coco: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = coco.both()
    calls = _counting_loads(monkeypatch)
    resolve_data(root, check_images=False)  # what a tuning run's workers ask for
    resolve_data(root)
    resolve_data(root)
    assert calls == [False, False, True, True]
