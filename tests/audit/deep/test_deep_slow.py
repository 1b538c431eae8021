"""Audit II at full size (``make test-all``): the tiny FCOS at 128 px, and ResNet-50 FCOS."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from audit.deep.detector import DetectorBatches, detector_loss
from audit.deep.model_audit import audit_model
from audit.deep.steal import steal_weight_decay
from audit.deep.verdict import verdict_for
from tuner.data.dataset import DetectionDataset
from tuner.data.resolve import resolve_data
from tuner.detectors import ModelSpec, build_detector
from tuner.release import save_release
from tuner.train import TrainConfig, train_detector

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HYPERSEAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HYPERSEAL_HOME", str(tmp_path / "home"))
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    yield
    torch.set_num_threads(threads)


def test_tiny_fcos_at_128_px_with_defences(tmp_path: Path) -> None:
    config = TrainConfig(epochs=6, batch_size=8, weight_decay=1e-3, hflip=0.0)
    splits = resolve_data("synthetic", images=120, size=128, seed=0)
    train, val = DetectionDataset(splits.train), DetectionDataset(splits.val)
    spec = ModelSpec("fcos", "tiny", 128, tuple(splits.class_names))
    result = train_detector(config, train, val, spec, device="cpu", eval_every=100)
    save_release(result.model, spec, tmp_path / "model")
    report = audit_model(
        tmp_path / "model",
        "synthetic",
        synthetic_images=120,
        truth=config.to_dict(),
        defences="round:3,round:2,noise:1e-2",
        device="cpu",
    )
    est = report.estimate
    assert est is not None
    print(
        f"\ntiny FCOS 128 px, wd=1e-3, mAP {result.metrics['mAP']:.3f}: estimate "
        f"{est.estimate:.3g} ({est.ci}), plain {est.plain_estimate:.3g}, verdict {report.verdict}"
        f"\n{report.defences.to_string()}\n{report.notes}"
    )
    assert math.isfinite(est.estimate)
    # against the truth: an interval, when there is one, holds it; the verdict judges the
    # owner's worst case among usable variants (none usable: resists, with the chance note)
    assert est.ci is None or est.ci[0] <= 1e-3 <= est.ci[1]
    worst = report.worst_case
    assert report.verdict == verdict_for(worst["estimate"] if worst else None, 1e-3)
    # The audit re-evaluates the released weights: the same mAP up to float rounding (on the
    # CPU training evaluates in channels-last memory; the two read 1.5e-5 apart here).
    assert report.defences.loc[0, "mAP"] == pytest.approx(result.metrics["mAP"], abs=1e-4)
    groups = report.groups.set_index("group")
    assert groups.loc["backbone.stage2.1.0", "scale_invariant"]
    assert groups.loc["head.classification_head.cls_logits", "informative"]


def test_resnet50_fcos_groups() -> None:
    splits = resolve_data("synthetic", images=24, size=128, seed=0)
    spec = ModelSpec("fcos", "resnet50", 128, tuple(splits.class_names))
    torch.manual_seed(0)
    model = build_detector(spec).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = DetectorBatches(DetectionDataset(splits.train), 2, fraction=4 / 19)
    res = steal_weight_decay(model, detector_loss, batches, device="cpu")
    groups = res.groups.set_index("group")
    print(f"\nResNet-50 FCOS: {len(groups)} groups, {int(groups.scale_invariant.sum())} invariant")
    # every backbone conv feeds a BatchNorm; the FCOS heads' convs feed GroupNorm
    convs = [g for g in groups.index if g.startswith("backbone.body.") and "conv" in g]
    assert convs and groups.loc[convs, "followed_by_norm"].all()
    assert groups.loc["head.classification_head.conv.0", "scale_invariant"]
    assert groups.loc["head.classification_head.cls_logits", "informative"]
    assert groups.loc["backbone.fpn.inner_blocks.2.0", "informative"]
    assert res.n_informative < res.n_decayed / 10
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_tiny_fcos_trained_long_is_never_given_a_false_interval() -> None:
    """800 full-batch epochs on 8 scenes: still far from stationary, and the audit says so.

    Measured: the informative solve stays at 0.05x the truth (the classification
    logits alone 0.4x), every gradient far from -w: unreliable, no interval.
    """
    wd = 1e-2
    config = TrainConfig(
        epochs=800,
        batch_size=8,
        weight_decay=wd,
        hflip=0.0,
        lr=0.05,
        warmup_epochs=0,
        grad_clip=1000.0,
    )
    splits = resolve_data("synthetic", images=10, size=64, seed=0)
    train, val = DetectionDataset(splits.train), DetectionDataset(splits.val)
    spec = ModelSpec("fcos", "tiny", 64, tuple(splits.class_names))
    model = train_detector(config, train, val, spec, device="cpu", eval_every=10_000).model
    res = steal_weight_decay(model, detector_loss, DetectorBatches(train, 8), device="cpu")
    print(f"\n{res.variants[['variant', 'estimate', 'cosine', 'usable', 'note']]}")
    pooled = res.variants.set_index("variant").loc["train x2 pooled", "estimate"]
    assert 0 < pooled < wd / 3  # still far below the truth: not a stationary point
    assert not res.reliable and res.ci is None
    assert res.worst_case(wd) is None


@pytest.mark.timeout(900)
def test_tiny_fcos_near_stationary_is_estimated_within_its_interval() -> None:
    """1,500 full-batch steps at a constant lr 0.05 and wd 5e-2 on 4 scenes: near stationary.

    The calibrated interval holds the truth and the owner's worst case is within 3x. The
    pick itself moves with the run (0.90x with two torch threads, 3.5x with one: a
    detector's trajectory is chaotic), and docs/audit.md gives a counterexample (lr 0.1,
    800 steps: 10x high, outside its interval), which is why ``audit model`` prints no
    interval for detectors; ``steal_weight_decay`` itself keeps it.
    """
    wd = 5e-2
    config = TrainConfig(
        epochs=1500,
        batch_size=4,
        weight_decay=wd,
        hflip=0.0,
        lr=0.05,
        warmup_epochs=0,
        grad_clip=1000.0,
        schedule="constant",
    )
    torch.set_num_threads(1)
    splits = resolve_data("synthetic", images=5, size=64, seed=0)
    train, val = DetectionDataset(splits.train), DetectionDataset(splits.val)
    spec = ModelSpec("fcos", "tiny", 64, tuple(splits.class_names))
    model = train_detector(config, train, val, spec, device="cpu", eval_every=100_000).model
    res = steal_weight_decay(model, detector_loss, DetectorBatches(train, 4), device="cpu")
    worst = res.worst_case(wd)
    print(f"\n{res.pick}: {res.estimate / wd:.3g}x, interval {res.ci}, worst {worst}")
    assert res.reliable and res.ci is not None and res.ci[0] <= wd <= res.ci[1]
    assert worst is not None and worst["ratio"] < 3
