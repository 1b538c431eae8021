"""vs_ultralytics.py's pure parts: the space translation, the summary and the sign test
(no YOLO training runs here)."""

from __future__ import annotations

import argparse
import json
import math
import shlex
from pathlib import Path

import pytest
import yaml

from benchmarks import vs_ultralytics as vs
from tuner.search.space import load_space

#: The shape of Ultralytics' default tune space (a few of its entries, as written there).
SOURCE = """
class Tuner:
    def __init__(self, args, _callbacks=None, *, model=None):
        self.space = args.pop("space", None) or {  # key: (min, max, gain(optional))
            "lr0": (1e-5, 1e-2),  # initial learning rate
            "momentum": (0.7, 0.98, 0.3),
            "weight_decay": (0.0, 0.001),
            "close_mosaic": (0.0, 10.0),
        }
        other = {"a": 1}
"""
DEFAULTS = {"lr0": 0.01, "momentum": 0.937, "weight_decay": 0.0005, "close_mosaic": 10}


def test_space_is_read_from_the_tuner_source() -> None:
    space = vs.ultralytics_space(SOURCE)
    assert space == {
        "lr0": (1e-5, 1e-2),
        "momentum": (0.7, 0.98, 0.3),
        "weight_decay": (0.0, 0.001),
        "close_mosaic": (0.0, 10.0),
    }
    with pytest.raises(vs.BenchError, match="no default search space"):
        vs.ultralytics_space("x = {'a': (1, 2)}\n")


def test_space_translation_keeps_names_ranges_and_defaults() -> None:
    spec = vs.hyperseal_space(vs.ultralytics_space(SOURCE), DEFAULTS, {"close_mosaic"})
    assert spec["lr0"] == {"type": "float", "low": 1e-5, "high": 1e-2, "default": 0.01}
    assert spec["momentum"] == {"type": "float", "low": 0.7, "high": 0.98, "default": 0.937}
    assert spec["close_mosaic"] == {"type": "int", "low": 0, "high": 10, "default": 10}
    # a default outside the range is clamped, as Ultralytics' tuner constrains its first trial
    clamped = vs.hyperseal_space({"lr0": (1e-5, 1e-3)}, {"lr0": 0.01})
    assert clamped["lr0"]["default"] == 1e-3
    with pytest.raises(vs.BenchError, match="no integer"):
        vs.hyperseal_space({"close_mosaic": (0.2, 0.8)}, {"close_mosaic": 0}, {"close_mosaic"})


def test_space_yaml_is_a_valid_hyperseal_space_with_the_same_values(tmp_path: Path) -> None:
    spec = vs.hyperseal_space(vs.ultralytics_space(SOURCE), DEFAULTS, {"close_mosaic"})
    text = vs.space_yaml(spec)
    assert "1.0e-05" in text  # YAML would read 1e-05 as a string
    assert yaml.safe_load(text) == spec
    (tmp_path / "space.yaml").write_text(text)
    space = load_space(tmp_path / "space.yaml", detector=False)
    assert space.defaults() == {k: s["default"] for k, s in spec.items()}


def test_installed_ultralytics_space_translates(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    from ultralytics.cfg import CFG_INT_KEYS, DEFAULT_CFG_DICT

    space = vs.ultralytics_space()
    spec = vs.hyperseal_space(space, DEFAULT_CFG_DICT, CFG_INT_KEYS)
    assert set(spec) == set(space) and "lr0" in spec
    (tmp_path / "space.yaml").write_text(vs.space_yaml(spec))
    assert load_space(tmp_path / "space.yaml", detector=False).names == list(space)


def test_sign_test_is_exact_and_two_sided() -> None:
    assert vs.sign_test(3, 0) == pytest.approx(0.25)
    assert vs.sign_test(0, 3) == pytest.approx(0.25)
    assert vs.sign_test(5, 0) == pytest.approx(2 / 32)
    assert vs.sign_test(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert vs.sign_test(2, 2) == 1.0
    assert vs.sign_test(0, 0) == 1.0


def test_best_prefers_full_trials_then_pruned() -> None:
    trials = [
        {"status": "ok", "score": 0.1},
        {"status": "pruned", "score": 0.5},
        {"status": "failed", "score": float("nan")},
        {"status": "ok", "score": 0.2},
    ]
    assert vs.best_of(trials) == 0.2
    assert vs.best_of([{"status": "pruned", "score": 0.05}]) == 0.05
    assert math.isnan(vs.best_of([{"status": "failed", "score": float("nan")}]))


def test_summary_counts_wins_losses_ties_and_medians() -> None:
    keys = ("seed", "ultralytics", "hyperseal", "wall_ultralytics", "wall_hyperseal")
    rows = [
        {**dict(zip(keys, values, strict=True)), "epochs_ultralytics": 36, "epochs_hyperseal": 20}
        for values in [(0, 0.10, 0.12, 10, 12), (1, 0.20, 0.15, 20, 18), (2, 0.30, 0.30, 30, 33)]
    ]
    s = vs.summarize(rows)
    assert (s["hyperseal_won"], s["hyperseal_lost"], s["ties"]) == (1, 1, 1)
    assert s["median_ultralytics"] == pytest.approx(0.20)
    assert s["median_hyperseal"] == pytest.approx(0.15)
    assert s["median_diff"] == pytest.approx(0.0)
    assert s["sign_test_p"] == 1.0
    assert s["median_wall_hyperseal"] == 18
    text = vs.report({"rows": rows, "summary": s, "seconds": 120, "settings": _settings()})
    assert "hyperseal won 1, lost 1, tied 1 of 3 seeds" in text and "Ultralytics" in text


def test_trial_command_keeps_searched_values_off_the_command_line() -> None:
    args = argparse.Namespace(**_settings())
    cmd = vs.hyperseal_command(args, 2, Path("/d/data.yaml"), Path("/d/base.pt"))
    words = shlex.split(cmd)
    assert words[1:4] == [
        "-m",
        "ultralytics.cfg.__init__",
        "train",
    ]  # the CLI Ultralytics' tuner runs
    assert "cfg={config.yaml}" in words and "project={trial_dir}/yolo" in words
    assert {"seed=2", "epochs=6", "save=False", "val=True", "optimizer=AdamW"} <= set(words)
    assert not any(w.split("=")[0] in ("lr0", "momentum", "box") for w in words)


def _settings() -> dict:
    return {
        "trials": 6,
        "epochs": 6,
        "images": 300,
        "imgsz": 128,
        "batch": 16,
        "device": "cpu",
        "optimizer": "AdamW",
    }


def test_ultralytics_side_is_reused_only_from_the_same_training(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.json"
    run = {"trials": [], "wall": 1.0, "best": 0.1}
    settings = {**_settings(), "model": "yolov8n.yaml"}
    earlier.write_text(
        json.dumps({"settings": settings, "runs": [{"seed": 0, "ultralytics": run}]})
    )
    args = argparse.Namespace(**settings, seeds=1, ultralytics_from=earlier)
    assert vs._earlier_ultralytics(args) == {0: run}
    with pytest.raises(vs.BenchError, match=r"seed\(s\) \[1\]"):
        vs._earlier_ultralytics(argparse.Namespace(**{**vars(args), "seeds": 2}))
    with pytest.raises(vs.BenchError, match="other settings \\(epochs\\)"):
        vs._earlier_ultralytics(argparse.Namespace(**{**vars(args), "epochs": 30}))
