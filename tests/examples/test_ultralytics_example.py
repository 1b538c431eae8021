"""examples/ultralytics_yolo: Ultralytics YOLO (yolov8n.yaml, no downloaded weights) on a
COCO folder exported by `hyperseal data export-yolo`, tuned through --command with its
config file (cfg={config.yaml}), killed, resumed and reported; nothing searched left in
plaintext in the run folder, although Ultralytics writes its own args.yaml per trial."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from killed_tune import kill_tune_when  # tests/ is on sys.path
from typer.testing import CliRunner

from tuner.main import app
from tuner.testing import plaintext_values
from tuner.tune import load_results
from tuner.vault import KeyFile

pytest.importorskip("ultralytics", reason="the example needs the 'examples' extra")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ultralytics_yolo"


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _searched_values(frame) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Every value a trial tried, but the space file's defaults: those are the user's own
    plaintext file, and a short one (0.0001) is also how a report prints a small fitness."""
    from tuner.search.space import load_space

    defaults = load_space(EXAMPLE / "space.yaml", detector=False).defaults()
    return {
        c[6:]: [v for v in frame[c] if v != defaults[c[6:]]]
        for c in frame.columns
        if c.startswith("param_")
    }


def _trials(run: Path, key: Path) -> int:
    try:
        return len(load_results(run, KeyFile(key)))
    except Exception:  # the journal is being created
        return 0


@pytest.mark.slow  # about a minute on two shared CPU cores: four YOLO trainings
def test_tune_kill_resume_and_report_ultralytics_yolo(
    hyperseal_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.data.synth import generate_synthetic

    generate_synthetic(tmp_path / "coco", images=10, size=64, seed=3)
    code, out = _cli("data", "export-yolo", tmp_path / "coco", "--out", tmp_path / "yolo")
    assert code == 0 and "data.yaml" in out, out
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics-settings"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yolo = Path(sys.executable).parent / "yolo"
    run = tmp_path / "run"
    command = (
        f"{yolo} train cfg={{config.yaml}} data={tmp_path / 'yolo' / 'data.yaml'}"
        " model=yolov8n.yaml epochs=2 imgsz=64 batch=4 device=cpu workers=0 plots=False"
        " project={trial_dir}/yolo name=train exist_ok=True"
    )
    args = [
        "tune",
        "--command",
        command,
        "--space",
        EXAMPLE / "space.yaml",
        "--epochs",
        "2",
        "--metrics-file",
        "yolo/train/results.csv",
        "--metric",
        "metrics/mAP50-95(B)",
        "--pruner",
        "none",
        "--out",
        run,
    ]
    key = hyperseal_env / "home" / "key"
    kill_tune_when([*args, "--budget", "6"], lambda: _trials(run, key) >= 1, timeout=240, poll=0.5)
    assert 1 <= _trials(run, key) < 6

    code, out = _cli("tune", "--resume", run, "--budget", "3")
    assert code == 0, out
    frame = load_results(run, KeyFile(key))
    assert len(frame) == 3 and set(frame["status"]) == {"ok"}, frame[["status", "error"]]
    assert "metric_metrics/mAP50-95(B)" in frame.columns
    assert all(len(curve) == 2 for curve in frame["curve"])  # one report per epoch
    code, out = _cli("report", "tune", run, "--redact")
    assert code == 0, out
    values = _searched_values(frame)
    assert sum(len(v) for v in values.values()) >= 1  # the search moved off the defaults
    assert plaintext_values(run, values) == []
    assert not list(tmp_path.glob("**/args.yaml"))  # Ultralytics' own copy went with the trial
