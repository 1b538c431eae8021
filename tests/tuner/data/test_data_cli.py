"""``hyperseal data synth`` and ``hyperseal data check`` through Typer's CliRunner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tuner.main import app

runner = CliRunner()


def test_synth_writes_a_dataset_and_summarises_it(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    args = ["data", "synth", str(out), "--images", "6", "--size", "64", "--seed", "2"]
    result = runner.invoke(app, [*args, "--val-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    assert "wrote 6 images of 64x64 px" in result.output
    assert "train: 3 images" in result.output and "val:   3 images" in result.output
    assert "car=" in result.output and "traffic_sign=" in result.output
    assert str(out / "annotations" / "instances_train.json") in result.output
    assert len(list((out / "images").glob("*.png"))) == 6


def test_synth_refuses_a_non_empty_folder_without_force(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    args = ["data", "synth", str(tmp_path), "--images", "2", "--size", "48"]
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    assert "error:" in result.output and "--force" in result.output
    assert not (tmp_path / "images").exists()
    forced = runner.invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert len(list((tmp_path / "images").glob("*.png"))) == 2


def test_synth_bad_option_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "x"), "--size", "8"])
    assert result.exit_code == 3
    assert result.output.strip().startswith("error: size must be")
    assert len(result.output.strip().splitlines()) == 1


def test_check_summarises_a_valid_folder(coco: Any) -> None:
    root = coco.both()
    result = runner.invoke(app, ["data", "check", str(root)])
    assert result.exit_code == 0, result.output
    assert "valid COCO detection dataset, 2 classes: bike, truck" in result.output
    assert (
        "3 images, 3 objects (bike=2 truck=1), 1 without objects, 1 crowd regions" in result.output
    )


def test_check_on_synthetic_output(synth: Any) -> None:
    result = runner.invoke(app, ["data", "check", str(synth.out)])
    assert result.exit_code == 0, result.output
    assert "car, pedestrian, traffic_sign" in result.output


def test_check_reports_a_broken_folder_in_one_line(coco: Any, edited: Any) -> None:
    coco.write(split="train")
    coco.write(edited(lambda d: d["annotations"][0].update(bbox=[0, 0, -1, 3])), split="val")
    result = runner.invoke(app, ["data", "check", str(coco.root)])
    assert result.exit_code == 4
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ") and "instances_val.json" in lines[0]
    assert "non-positive size" in lines[0]


def test_check_missing_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", str(tmp_path / "none")])
    assert result.exit_code == 4 and "dataset not found" in result.output


def test_data_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["data", "--help"])
    assert result.exit_code == 0
    assert "synth" in result.output and "check" in result.output


def test_cli_module_does_not_import_torch() -> None:
    code = "import sys, tuner.data.cli, tuner.data; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
