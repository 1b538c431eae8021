"""Loading and validating user COCO splits: every fault is one clear DataError line."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO

from tuner.data.coco import load_coco
from tuner.errors import DataError

Edit = Callable[[Callable[[dict[str, Any]], Any]], dict[str, Any]]


def _error(coco: Any, data: dict[str, Any] | None = None, **kwargs: Any) -> str:
    message = _load_error(coco, coco.write(data), **kwargs)
    assert "\n" not in message
    return message


def _load_error(coco: Any, path: Path, **kwargs: Any) -> str:
    """The message of the DataError that loading ``path`` raises."""
    with pytest.raises(DataError) as info:
        load_coco(path, coco.images, **kwargs)
    return str(info.value)


def test_valid_split_loads(coco: Any) -> None:
    split = load_coco(coco.write(), coco.images)
    assert split.class_names == ["bike", "truck"]  # sorted by category id (3, 7)
    assert [split.label_of(3), split.label_of(7)] == [1, 2]
    assert [split.category_of(1), split.category_of(2)] == [3, 7]
    assert [img["id"] for img in split.images] == [10, 11, 12]
    assert split.annotations[11] == []  # an image without objects is valid
    assert [a["id"] for a in split.annotations[10]] == [1, 2]
    assert split.num_annotations == 4
    assert split.counts() == {"bike": 2, "truck": 1}  # the crowd region is not counted
    crowd = split.annotations[12][1]
    assert crowd["iscrowd"] == 1
    assert split.annotations[12][0]["iscrowd"] == 0  # missing iscrowd means 0
    assert split.annotations[10][0]["area"] == 80  # missing area is w * h
    assert split.annotations[10][1]["area"] == 90  # a given area is kept
    assert split.image_path(split.images[0]) == coco.images / "a.png"


def test_label_errors(coco: Any) -> None:
    split = load_coco(coco.write(), coco.images)
    with pytest.raises(DataError, match="category id 5"):
        split.label_of(5)
    with pytest.raises(ValueError, match="label 3"):
        split.category_of(3)
    with pytest.raises(ValueError):
        split.category_of(0)


def test_as_coco_dict_feeds_pycocotools(coco: Any) -> None:
    split = load_coco(coco.write(), coco.images)
    gt = COCO()
    gt.dataset = split.as_coco_dict()
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    assert sorted(gt.getImgIds()) == [10, 11, 12]
    assert len(gt.getAnnIds()) == 4


def test_missing_annotation_file(tmp_path: Path) -> None:
    path = tmp_path / "annotations" / "instances_train.json"
    with pytest.raises(DataError, match="annotation file not found") as info:
        load_coco(path, tmp_path)
    assert str(path) in str(info.value)


def test_annotation_file_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a file"):
        load_coco(tmp_path, tmp_path)


def test_missing_images_folder(coco: Any) -> None:
    path = coco.write()
    missing = coco.root / "nowhere"
    with pytest.raises(DataError, match="images folder not found") as info:
        load_coco(path, missing)
    assert str(missing) in str(info.value)


def test_invalid_json(coco: Any) -> None:
    path = coco.write()
    path.write_text('{"images": [', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON") as info:
        load_coco(path, coco.images)
    assert str(path) in str(info.value) and "line 1" in str(info.value)


def test_binary_garbage_is_not_json(coco: Any) -> None:
    path = coco.write()
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(DataError, match="not valid JSON"):
        load_coco(path, coco.images)


def test_results_list_is_not_a_dataset(coco: Any) -> None:
    path = coco.write()
    path.write_text('[{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]', encoding="utf-8")
    with pytest.raises(DataError, match="detection results"):
        load_coco(path, coco.images)


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_missing_key(coco: Any, edited: Edit, key: str) -> None:
    message = _error(coco, edited(lambda d: d.pop(key)))
    assert f"no '{key}' list" in message and "instances_train.json" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(images={"id": 1}), "'images' must be a list"),
        (lambda d: d["images"][0].update(id="10"), "has id '10'"),
        (lambda d: d["images"][0].update(width=0), "width 0"),
        (lambda d: d["images"][0].update(height=12.5), "height 12.5"),
        (lambda d: d["images"][0].pop("file_name"), "no 'file_name'"),
        (lambda d: d["images"].append(dict(d["images"][0])), "image id 10 appears twice"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "bbox [1, 2, 3]"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, "3", 4]), "four finite numbers"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, float("nan"), 4]), "four finite"),
        (lambda d: d["annotations"][0].pop("bbox"), "no 'bbox'"),
        (lambda d: d["annotations"][0].update(image_id=None), "whole-number 'image_id'"),
        (lambda d: d["annotations"][0].update(iscrowd=2), "iscrowd 2"),
        (lambda d: d["annotations"][0].update(area="big"), "area 'big'"),
        (lambda d: d["annotations"][1].update(id=1), "annotation id 1 appears twice"),
        (lambda d: d["annotations"][0].update(id=True), "has id True"),
        (lambda d: d.update(categories=[]), "'categories' is empty"),
        (lambda d: d["categories"][0].update(id=-1), "ids are whole numbers >= 0"),
        (lambda d: d["categories"][0].pop("name"), "category id 7 has no name"),
        (lambda d: d["categories"][1].update(id=7), "category id 7 appears twice"),
        (lambda d: d["categories"][1].update(name="truck"), "name 'truck' is used by ids"),
        (lambda d: d["images"][0].update(file_name="../a.png"), "leaves the images folder"),
        (lambda d: d["images"][0].update(file_name="/etc/a.png"), "leaves the images folder"),
    ],
)
def test_not_coco_detection(coco: Any, edited: Edit, change: Any, expected: str) -> None:
    message = _error(coco, edited(change))
    assert expected in message
    assert "instances_train.json" in message


def test_annotation_points_at_missing_image(coco: Any, edited: Edit) -> None:
    message = _error(coco, edited(lambda d: d["annotations"][0].update(image_id=99)))
    assert "annotation id 1 points at image id 99" in message
    assert "instances_train.json" in message


def test_annotation_points_at_missing_category(coco: Any, edited: Edit) -> None:
    message = _error(coco, edited(lambda d: d["annotations"][1].update(category_id=42)))
    assert "annotation id 2 (image id 10) has category id 42" in message


@pytest.mark.parametrize("box", [[2, 3, 0, 8], [2, 3, 10, -1], [2, 3, -4, -4]])
def test_box_of_non_positive_size(coco: Any, edited: Edit, box: list[float]) -> None:
    message = _error(coco, edited(lambda d: d["annotations"][0].update(bbox=box)))
    assert "annotation id 1 (image id 10)" in message and "non-positive size" in message


@pytest.mark.parametrize(
    "box", [[-2, 3, 10, 8], [2, -1.5, 10, 8], [35, 3, 6.5, 8], [2, 20, 10, 12], [50, 3, 5, 5]]
)
def test_box_outside_its_image(coco: Any, edited: Edit, box: list[float]) -> None:
    message = _error(coco, edited(lambda d: d["annotations"][0].update(bbox=box)))
    assert "annotation id 1 (image id 10)" in message
    assert "outside its 40x30 image" in message


def test_box_within_tolerance_is_clipped(coco: Any, edited: Edit) -> None:
    data = edited(lambda d: d["annotations"][0].update(bbox=[-0.75, 0.5, 10, 30.25]))
    split = load_coco(coco.write(data), coco.images)
    assert split.annotations[10][0]["bbox"] == [0.0, 0.5, 9.25, 29.5]


def test_box_with_nothing_inside_after_clipping(coco: Any, edited: Edit) -> None:
    data = edited(lambda d: d["annotations"][0].update(bbox=[-0.9, 2, 0.5, 5]))
    assert "no part inside" in _error(coco, data)


def test_missing_image_file(coco: Any) -> None:
    path = coco.write()
    (coco.images / "b.png").unlink()
    message = _load_error(coco, path)
    assert "image id 11: file not found" in message and "b.png" in message


def test_unreadable_image_file(coco: Any) -> None:
    path = coco.write()
    (coco.images / "a.png").write_bytes(b"this is not a png")
    message = _load_error(coco, path)
    assert "image id 10: cannot read" in message and "a.png" in message


def test_truncated_png_fails_verification(coco: Any) -> None:
    path = coco.write()
    png = coco.images / "a.png"
    png.write_bytes(png.read_bytes()[:-40])
    with pytest.raises(DataError, match="image id 10: cannot read"):
        load_coco(path, coco.images)


def test_image_size_differs_from_json(coco: Any) -> None:
    path = coco.write()
    coco.image("c.png", 32, 24)
    with pytest.raises(DataError) as info:
        load_coco(path, coco.images)
    assert "image id 12" in str(info.value) and "is 32x24 but the json says 20x20" in str(
        info.value
    )


def test_check_images_false_skips_the_files(coco: Any) -> None:
    path = coco.write(images=False)
    split = load_coco(path, coco.images, check_images=False)
    assert len(split.images) == 3


def test_several_faults_name_the_first_and_count_the_rest(coco: Any, edited: Edit) -> None:
    def change(d: dict[str, Any]) -> None:
        d["annotations"][0]["bbox"] = [0, 0, 0, 0]
        d["annotations"][2]["image_id"] = 77

    message = _error(coco, edited(change))
    assert message.count("annotation id") == 1
    assert "annotation id 1" in message and "(and 1 more problems)" in message


def test_only_empty_images_is_valid(coco: Any, edited: Edit) -> None:
    data = edited(lambda d: d.update(annotations=[]))
    split = load_coco(coco.write(data), coco.images)
    assert split.num_annotations == 0
    assert all(anns == [] for anns in split.annotations.values())


def test_file_names_may_hold_subfolders(coco: Any, edited: Edit) -> None:
    data = edited(lambda d: d["images"][0].update(file_name="sub/dir/a.png"))
    split = load_coco(coco.write(data), coco.images)
    assert split.image_path(split.images[0]).is_file()


def test_synthetic_output_validates(synth: Any) -> None:
    train_file, val_file = synth.annotation_files
    split = load_coco(train_file, synth.out / "images")
    assert split.class_names == ["car", "pedestrian", "traffic_sign"]
    assert sum(split.counts().values()) == sum(synth.train_counts.values())
    assert load_coco(val_file, synth.out / "images").images
