"""examples/torchvision_detection: a reference-style training script tuned through
--command, killed, resumed, reported and its best model audited; nothing searched in
plaintext anywhere in the run folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from killed_tune import kill_tune_when  # tests/ is on sys.path
from typer.testing import CliRunner

from tuner.main import app
from tuner.testing import plaintext_values
from tuner.tune import load_results
from tuner.vault import KeyFile

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torchvision_detection"


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


@pytest.mark.slow  # a minute and a half on two shared CPU cores: seven torch processes
def test_tune_kill_resume_report_and_audit_the_torchvision_example(
    hyperseal_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.data.synth import generate_synthetic

    data = tmp_path / "data"
    generate_synthetic(data, images=8, size=64, seed=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny images: threads only add overhead
    run = tmp_path / "run"
    command = (
        f"{sys.executable} {EXAMPLE / 'train.py'} --data-path {data} --epochs 1 -b 4"
        " --output-dir out --config {config}"
    )
    args = [
        "tune",
        "--command",
        command,
        "--space",
        EXAMPLE / "space.yaml",
        "--epochs",
        "1",
        "--pruner",
        "none",
        "--artifact",
        "out/weights.safetensors",
        "--artifact",
        "out/manifest.json",
        "--out",
        run,
    ]
    key_path = hyperseal_env / "home" / "key"
    kill_tune_when(
        [*args, "--budget", "6"], lambda: _trials(run, key_path) >= 1, timeout=240, poll=0.5
    )
    assert 1 <= _trials(run, key_path) < 6
    key = KeyFile(key_path)

    code, out = _cli("tune", "--resume", run, "--budget", "2")
    assert code == 0, out
    assert "best trial's artifacts in" in out or "best model in" in out
    frame = load_results(run, key)
    assert len(frame) == 2 and set(frame["status"]) == {"ok"}
    assert sorted(p.name for p in (run / "best").iterdir()) == [
        "manifest.json",
        "metrics.json",
        "weights.safetensors",
    ]

    code, out = _cli("report", "tune", run, "--redact")
    assert code == 0, out
    code, out = _cli(
        "audit",
        "model",
        "--model",
        run / "best",
        "--data",
        data,
        "--vault",
        run / "vault.hsv",
        "--out",
        tmp_path / "audit",
    )
    assert code == 0, out
    assert "weight decay" in out.lower()
    values = _searched_values(frame)
    assert sum(len(v) for v in values.values()) >= 1  # the search moved off the defaults
    assert plaintext_values(run, values) == []
    assert plaintext_values(tmp_path / "audit", values) == []
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
