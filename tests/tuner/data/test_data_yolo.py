"""hyperseal data export-yolo: a COCO folder in the YOLO layout, boxes as class cx cy w h."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tuner.data.synth import generate_synthetic
from tuner.main import app


def test_export_yolo_writes_normalised_boxes_and_data_yaml(tmp_path: Path) -> None:
    generate_synthetic(tmp_path / "coco", images=6, size=64, seed=0)
    result = CliRunner().invoke(
        app, ["data", "export-yolo", str(tmp_path / "coco"), "--out", str(tmp_path / "yolo")]
    )
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data["names"] == {0: "car", 1: "pedestrian", 2: "traffic_sign"}
    assert Path(data["path"]) == (tmp_path / "yolo").resolve()

    coco = json.loads((tmp_path / "coco" / "annotations" / "instances_train.json").read_text())
    first = coco["images"][0]
    anns = [a for a in coco["annotations"] if a["image_id"] == first["id"]]
    stem = Path(first["file_name"]).stem
    lines = (tmp_path / "yolo" / "labels" / "train" / f"{stem}.txt").read_text().splitlines()
    assert len(lines) == len(anns)
    ids = sorted(c["id"] for c in coco["categories"])
    x, y, w, h = anns[0]["bbox"]
    cls, cx, cy, bw, bh = lines[0].split()
    assert int(cls) == ids.index(anns[0]["category_id"])
    expected = (
        (x + w / 2) / first["width"],
        (y + h / 2) / first["height"],
        w / first["width"],
        h / first["height"],
    )
    assert all(abs(float(a) - b) < 1e-5 for a, b in zip((cx, cy, bw, bh), expected, strict=True))
    assert (tmp_path / "yolo" / "images" / "train" / Path(first["file_name"]).name).is_file()


def test_export_yolo_refuses_a_non_empty_folder_and_a_missing_dataset(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    generate_synthetic(tmp_path / "coco", images=4, size=64, seed=0)
    runner = CliRunner()
    result = runner.invoke(
        app, ["data", "export-yolo", str(tmp_path / "coco"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 3 and "not empty" in result.output
    result = runner.invoke(
        app, ["data", "export-yolo", str(tmp_path / "none"), "--out", str(tmp_path / "new")]
    )
    assert result.exit_code == 4 and result.output.count("\n") == 1, result.output
