"""The CUDA paths: AMP training, GPU-trained weights on a CPU, trials sharing a GPU, the audit.

Skipped where there is no CUDA device (CI); run on a GPU machine with
``python -m pytest tests/tuner/train/test_cuda.py``. Sizes stay tiny: seconds on any GPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tuner.data.dataset import DetectionDataset
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec
from tuner.errors import ConfigError
from tuner.evaluate import evaluate_model
from tuner.release import load_release, save_release
from tuner.search.executors import slot_devices
from tuner.train import TrainConfig, train_detector

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CONFIG = TrainConfig(epochs=2, batch_size=4, weight_decay=1e-3, hflip=0.0, seed=0)


@pytest.fixture
def data(hyperseal_env: Path) -> tuple[DetectionDataset, DetectionDataset, ModelSpec]:
    splits = resolve_data("synthetic", images=24, size=64, seed=0)
    spec = ModelSpec("fcos", "tiny", 64, tuple(splits.class_names))
    return DetectionDataset(splits.train), DetectionDataset(splits.val), spec


def test_auto_device_trains_on_the_gpu_with_amp(data) -> None:
    train, val, spec = data
    # enough steps that the ones the gradient scaler skips at first (fp16 overflow while
    # it finds its scale) leave some to train on
    config = CONFIG.replace(epochs=4, batch_size=2)
    result = train_detector(config, train, val, spec)  # device "auto"
    assert all(p.device.type == "cuda" for p in result.model.parameters())
    assert all(math.isfinite(r.train_loss) for r in result.history)
    assert set(result.metrics) == {"mAP", "mAP50", "mAP75", "AR100"}
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert result.images_per_second > 0
    # the loss went down under mixed precision
    assert result.history[-1].train_loss < result.history[0].train_loss


@pytest.mark.parametrize("nhwc", [False, True])
def test_gpu_weights_give_the_same_scores_on_a_cpu(data, tmp_path: Path, nhwc: bool) -> None:
    train, val, spec = data
    result = train_detector(CONFIG, train, None, spec, device="cuda:0", channels_last=nhwc)
    save_release(result.model, spec, tmp_path / "release")
    model, loaded_spec = load_release(tmp_path / "release")
    assert loaded_spec == spec and all(p.device.type == "cpu" for p in model.parameters())
    on_gpu = evaluate_model(result.model, val, torch.device("cuda"))
    on_cpu = evaluate_model(model, val, torch.device("cpu"))
    for name, value in on_gpu.items():  # autocast on the GPU: equal up to rounding
        assert on_cpu[name] == pytest.approx(value, abs=0.02), name


def test_slots_share_out_the_gpu() -> None:
    devices, threads = slot_devices(4, trials_per_gpu=2)
    gpus = torch.cuda.device_count()
    assert devices == [f"cuda:{(i // 2) % gpus}" for i in range(4)] and threads is None
    assert slot_devices(3, device="cuda:0") == (["cuda:0"] * 3, None)
    assert slot_devices(2, device="cpu")[0] == ["cpu", "cpu"]
    with pytest.raises(ConfigError, match="this machine has GPUs cuda:0 to"):
        slot_devices(1, device=f"cuda:{gpus}")


def test_tune_packs_two_trials_on_one_gpu(hyperseal_env: Path) -> None:
    from tuner.main import app
    from tuner.tune import load_results
    from tuner.vault import KeyFile

    run = hyperseal_env / "run"
    tiny = ["--images", "24", "--image-size", "64", "--epochs", "2", "--budget", "4"]
    packed = ["--workers", "2", "--trials-per-gpu", "2", "--pruner", "none", "--out", str(run)]
    args = ["tune", *tiny, *packed]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = load_results(run, KeyFile(hyperseal_env / "home" / "key"))
    assert len(frame) == 4 and set(frame["status"]) == {"ok"}, result.output


def test_detector_audit_on_the_gpu_agrees_with_the_cpu(data, tmp_path: Path) -> None:
    from audit.deep.model_audit import audit_model

    train, _, spec = data
    result = train_detector(CONFIG, train, None, spec, device="cpu")
    save_release(result.model, spec, tmp_path / "release")
    reports = {}
    for device in ("cpu", "cuda"):
        reports[device] = audit_model(
            tmp_path / "release",
            "synthetic",
            synthetic_images=24,
            truth=CONFIG.to_dict(),
            defences="round:2",
            device=device,
            n_bootstrap=100,
        )
    cpu, gpu = reports["cpu"].estimate, reports["cuda"].estimate
    assert cpu is not None and gpu is not None
    # TF32 convolutions on the GPU: the same estimate within a few per cent
    assert gpu.estimate == pytest.approx(cpu.estimate, rel=0.05)
    assert reports["cuda"].verdict == reports["cpu"].verdict
