from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tuner.data.dataset import DetectionDataset
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec
from tuner.errors import ConfigError, DivergedError, ModelError, TrainingError
from tuner.evaluate import evaluate_detections, evaluate_model
from tuner.main import app
from tuner.release import load_release, load_torch_state, save_release
from tuner.train import TrainConfig, load_config, resolve_device, train_detector


@pytest.fixture
def tiny_data(hyperseal_env: Path) -> tuple[DetectionDataset, DetectionDataset]:
    splits = resolve_data("synthetic", images=24, size=64, seed=0)
    return DetectionDataset(splits.train), DetectionDataset(splits.val)


def _spec(data: DetectionDataset, arch: str = "fcos") -> ModelSpec:
    return ModelSpec(arch, "tiny", 64, tuple(data.split.class_names))


def test_perfect_predictions_score_one_and_none_score_zero(tiny_data) -> None:
    _, val = tiny_data
    split = val.split
    perfect = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for anns in split.annotations.values()
        for a in anns
    ]
    metrics = evaluate_detections(split, perfect)
    assert metrics["mAP"] == pytest.approx(1.0)
    assert metrics["mAP50"] == pytest.approx(1.0)
    assert metrics["AR100"] == pytest.approx(1.0)
    assert evaluate_detections(split, []) == {"mAP": 0.0, "mAP50": 0.0, "mAP75": 0.0, "AR100": 0.0}


def test_training_is_repeatable_on_cpu_and_reports_each_epoch(tiny_data) -> None:
    train, val = tiny_data
    config = TrainConfig(epochs=2, batch_size=4, scale_jitter=0.2, color_jitter=0.2)
    reports = []
    first = train_detector(config, train, val, _spec(train), device="cpu", on_epoch=reports.append)
    second = train_detector(config, train, val, _spec(train), device="cpu")
    assert [r.epoch for r in reports] == [1, 2]
    assert all(set(r.metrics) == {"mAP", "mAP50", "mAP75", "AR100"} for r in reports)
    for (name, a), b in zip(
        first.model.state_dict().items(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert first.metrics == second.metrics


def test_memory_format_changes_layout_not_results(tiny_data) -> None:
    train, _ = tiny_data
    config = TrainConfig(epochs=1, batch_size=4)
    runs = {
        nhwc: train_detector(config, train, None, _spec(train), device="cpu", channels_last=nhwc)
        for nhwc in (True, False)
    }
    stem = {
        nhwc: dict(r.model.named_parameters())["backbone.stem.0.weight"] for nhwc, r in runs.items()
    }
    assert stem[True].dim() == 4 and stem[True].shape[-1] > 1
    assert stem[True].is_contiguous(memory_format=torch.channels_last)
    assert not stem[False].is_contiguous(memory_format=torch.channels_last)
    # other convolution kernels, so the same training up to float rounding
    assert runs[True].history[0].train_loss == pytest.approx(
        runs[False].history[0].train_loss, rel=1e-3
    )


def test_on_epoch_can_stop_training_early(tiny_data) -> None:
    train, val = tiny_data
    result = train_detector(
        TrainConfig(epochs=5, batch_size=4),
        train,
        val,
        _spec(train),
        on_epoch=lambda r: r.epoch >= 2,
    )
    assert result.epochs_run == 2 and result.stopped_early


def test_nan_loss_raises_a_specific_error_without_the_value_of_lr(tiny_data) -> None:
    train, val = tiny_data
    config = TrainConfig(epochs=3, lr=9.5, grad_clip=0.0, warmup_epochs=0.0, batch_size=4)
    with pytest.raises(DivergedError, match="lower the learning rate") as info:
        train_detector(config, train, val, _spec(train))
    assert "9.5" not in str(info.value)


def test_weights_left_non_finite_by_the_last_update_are_caught(
    tiny_data, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each loss was finite, but the last update broke the weights: no model comes back."""
    import torch

    import tuner.train.loop as loop

    real_step = loop._optimizer_step

    def breaking_step(model, *args, **kwargs):  # type: ignore[no-untyped-def]
        loss = real_step(model, *args, **kwargs)
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
        return loss

    monkeypatch.setattr(loop, "_optimizer_step", breaking_step)
    train, val = tiny_data
    with pytest.raises(DivergedError, match="weights became NaN or infinite in the last update"):
        train_detector(TrainConfig(epochs=1, batch_size=len(train)), train, val, _spec(train))


@pytest.mark.parametrize("arch", ["retinanet", "fasterrcnn", "ssdlite"])
def test_other_architectures_train_and_evaluate(tiny_data, arch: str) -> None:
    train, val = tiny_data
    result = train_detector(TrainConfig(epochs=1, batch_size=8), train, val, _spec(train, arch))
    assert set(result.metrics) == {"mAP", "mAP50", "mAP75", "AR100"}


def test_release_round_trip_and_tamper_detection(tiny_data, tmp_path: Path) -> None:
    train, val = tiny_data
    result = train_detector(
        TrainConfig(epochs=1, batch_size=8), train, None, _spec(train), device="cpu"
    )
    out = tmp_path / "release"
    save_release(result.model, result.spec, out)
    model, spec = load_release(out)
    assert spec == result.spec
    before = evaluate_model(result.model, val, torch.device("cpu"))
    assert evaluate_model(model, val, torch.device("cpu")) == before
    with pytest.raises(ModelError, match="already holds"):
        save_release(result.model, result.spec, out)
    data = bytearray((out / "weights.safetensors").read_bytes())
    data[-1] ^= 1
    (out / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the hash"):
        load_release(out)


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, evil)
    with pytest.raises(ModelError, match="not a plain torch state dict"):
        load_torch_state(evil, ModelSpec(classes=("a",)))
    assert not marker.exists()


def test_train_cli_writes_a_release(hyperseal_env: Path) -> None:
    out = hyperseal_env / "model"
    cfg = hyperseal_env / "cfg.yaml"
    cfg.write_text("epochs: 1\nbatch_size: 8\n")
    args = ["--images", "24", "--image-size", "64", "--config", str(cfg), "--out", str(out)]
    result = CliRunner().invoke(app, ["train", "--data", "synthetic", *args])
    assert result.exit_code == 0, result.output
    assert "validation: mAP=" in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "metrics.json",
        "weights.safetensors",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    # the validation metrics only: nothing that counts the recipe's epochs
    assert set(metrics) == {"mAP", "mAP50", "mAP75", "AR100"}
    assert "batch_size" not in json.dumps(metrics) and "lr" not in metrics
    again = CliRunner().invoke(app, ["train", *args])
    assert again.exit_code == 3 and "not empty" in again.output


def test_help_is_fast_and_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, tuner.main; print('torch' in sys.modules, 'nevergrad' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_config_with_keys_of_mixed_types_is_one_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("1: 2\nfoo: 3\n")
    with pytest.raises(ConfigError, match="unknown field"):
        load_config(cfg)
    result = CliRunner().invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "m")])
    assert result.exit_code == 3 and "unknown field" in result.output


def test_seed_that_torch_cannot_take_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="'seed' is out of range"):
        TrainConfig.from_dict({"seed": 10**20})
    assert TrainConfig(seed=2**64 - 1).seed == 2**64 - 1


def test_range_error_names_its_source_but_no_sealed_value() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"epochs": 7, "warmup_epochs": 9.0}, where="vault entry 'm'")
    message = str(info.value)
    assert message.startswith("vault entry 'm': ") and "'warmup_epochs'" in message
    assert "7" not in message


@pytest.mark.parametrize("device", ["meta", "mps", "xpu"])
def test_devices_training_does_not_run_on_are_refused(device: str) -> None:
    with pytest.raises(TrainingError, match=f"unknown device '{device}'"):
        resolve_device(device)


def test_malformed_model_description_names_the_manifest(tmp_path: Path) -> None:
    from tuner.detectors import build_detector

    spec = ModelSpec("fcos", "tiny", 64, ("a",))
    save_release(build_detector(spec), spec, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["model"]["image_size"] = "x"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=f"^{re.escape(str(tmp_path / 'manifest.json'))}: "):
        load_release(tmp_path)
