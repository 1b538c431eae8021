"""The zero-cost defence (``rescale:C``) and the adaptive attacker who undoes it.

Outputs must not move (checked against the untouched network on the same
inputs); estimates are compared with the true weight decay of networks trained
here to convergence (full-batch SGD, as in ``test_deep_steal.py``, with ReLU so
that junctions exist). The estimates come from the paper's equation written out
here (full batch, train mode, over the decayed parameters of every layer that
does not feed a normalisation layer), so that they test the rescaling and not
the choices of the audit's attack portfolio.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from audit.classical.datasets import Dataset
from audit.deep.defend import Defence, apply_defence, parse_defences
from audit.deep.reparam import (
    channel_median,
    detector_probe,
    rebalance,
    rescale,
    trace,
)
from audit.deep.reparam.scaling import apply_junction
from audit.deep.reparam.structure import module_paths
from audit.deep.testing import train_full_batch
from audit.errors import AuditOptionError
from tuner.train.params import split_decayed

Batch = tuple[torch.Tensor, torch.Tensor]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mse(model: nn.Module, batch: Batch) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def _mlp(norm: type[nn.Module] | None = None, hidden: int = 16) -> nn.Sequential:
    torch.manual_seed(0)

    def block(n_in: int) -> list[nn.Module]:
        return [nn.Linear(n_in, hidden), *([norm(hidden)] if norm else []), nn.ReLU()]

    return nn.Sequential(*block(10), *block(hidden), nn.Linear(hidden, 1))


def _train(
    model: nn.Module,
    batch: Batch,
    wd: float,
    *,
    decay_norm_and_bias: bool = False,
    steps: int = 1500,
    lr: float = 0.2,
) -> nn.Module:
    """Full-batch SGD, momentum 0.9, cosine schedule, decay split as hyperseal's training does."""
    return train_full_batch(
        model, _mse, batch, wd, steps=steps, lr=lr, decay_norm_and_bias=decay_norm_and_bias
    )


@pytest.fixture(scope="module")
def diabetes_batch(diabetes: Dataset) -> Batch:
    X = torch.tensor(diabetes.X_train, dtype=torch.float32)
    y = torch.tensor(diabetes.y_train, dtype=torch.float32)[:, None]
    return X, y


def _equation(model: nn.Module, batch: Batch, *, decay_norm_and_bias: bool = False) -> float:
    """``wd = −Σ wᵀ∇L / Σ ‖w‖²`` over the decayed parameters of layers not feeding a norm."""
    net = copy.deepcopy(model).train()
    invariant = {f.layer for f in trace(net, lambda m: m(batch[0])).norm_feeds}
    net.zero_grad()
    _mse(net, batch).backward()
    num = den = 0.0
    for name, p in split_decayed(net, decay_norm_and_bias)[0]:
        if name.rpartition(".")[0] not in invariant and p.grad is not None:
            num += float((p.detach().double() * p.grad.double()).sum())
            den += float(p.detach().double().pow(2).sum())
    return -num / den


def _max_change(model: nn.Module, before: nn.Module, x: Any) -> float:
    model.eval(), before.eval()
    with torch.no_grad():
        return float((model(x) - before(x)).abs().max())


class _GNCNN(nn.Module):
    """Conv-GN-ReLU twice (the second conv grouped), a 1x1 prediction conv, mean pooling."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.GroupNorm(4, 8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, groups=2),
            nn.GroupNorm(4, 16),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 10, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


# -- outputs unchanged -----------------------------------------------------------------------


def test_outputs_unchanged_on_mlp_bn_mlp_and_gn_cnn(diabetes_batch: Batch) -> None:
    X = diabetes_batch[0]
    bn = _mlp(nn.BatchNorm1d)
    bn.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics that are not the initial ones
            bn(X * 3 + 1)
    images = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for net, x in ((_mlp(), X), (bn, X), (_GNCNN(), images)):
        before = copy.deepcopy(net)
        report = rescale(net, lambda m, x=x: m(x), factor=4.0, seed=3)
        print(type(net).__name__, report.describe(), report.skipped)
        with torch.no_grad():
            scale = float(before.eval()(x).abs().max())
        assert _max_change(net, before, x) <= 1e-5 * scale
        assert report.deviation <= 1e-5 and len(report.junctions) == 2
        changed = [
            float((a - b).abs().max()) > 1e-3 * float(b.abs().max())
            for a, b in zip(net.state_dict().values(), before.state_dict().values(), strict=True)
            if a.is_floating_point()
        ]
        assert sum(changed) >= 4  # the weights an attacker sees did change
    # the BatchNorm MLP: both hidden layers feed a norm and are rescaled too (exactly, in eval)
    structure = trace(bn, lambda m: m(X))
    assert [f.layer for f in structure.norm_feeds] == ["0", "3"]
    assert [(j.producer, j.consumers) for j in structure.junctions] == [
        ("1", ("3",)),
        ("4", ("6",)),
    ]


def test_rescale_is_seeded_and_bad_input_is_one_error() -> None:
    X = torch.randn(8, 10)
    a, b, c = _mlp(), _mlp(), _mlp()
    rescale(a, lambda m: m(X), seed=5)
    rescale(b, lambda m: m(X), seed=5)
    rescale(c, lambda m: m(X), seed=6)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, c[0].weight)
    assert parse_defences("rescale,rescale:4,rescale:100") == [
        Defence("rescale", 4.0),
        Defence("rescale", 100.0),
    ]
    assert parse_defences("rescale:2.5")[0].name == "rescale:2.5"
    for bad in (
        "rescale:0",
        "rescale:abc",
        "rescale:1",
        "rescale:-4",
        "rescale:1e9",
        "rescale:nan",
        "rescale:",
    ):
        with pytest.raises(AuditOptionError) as info:
            parse_defences(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(AuditOptionError, match="forward pass"):
        apply_defence(_mlp(), Defence("rescale", 4.0))
    with pytest.raises(AuditOptionError, match="prior"):
        rebalance(_mlp(), lambda m: m(X), prior="guess")
    with pytest.raises(AuditOptionError):
        rescale(_mlp(), lambda m: m(X), factor=0.5)


class _Residual(nn.Module):
    """A junction whose activation is also used by an operation hooks cannot see."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.act, self.fc2 = nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6)
        self.fc3, self.act3, self.fc4 = nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.fc1(x))
        return self.fc4(self.act3(self.fc3(self.fc2(h) + h)))  # the `+ h` is invisible


def test_junction_with_an_invisible_use_is_left_out() -> None:
    net, x = _Residual(), torch.randn(32, 6)
    before = copy.deepcopy(net)
    report = rescale(net, lambda m: m(x), factor=4.0)
    assert {j.producer for j in trace(net, lambda m: m(x)).junctions} == {"fc1", "fc3"}
    assert report.junctions == ["fc3"] and [name for name, _ in report.skipped] == ["fc1"]
    with torch.no_grad():
        scale = float(before(x).abs().max())
    assert _max_change(net, before, x) <= 1e-5 * scale


# -- the attack, and the adaptive attacker ---------------------------------------------------------


def test_rescaling_breaks_the_naive_attack_and_rebalancing_undoes_it(diabetes_batch: Batch) -> None:
    wd = 1e-2
    net = _train(_mlp(), diabetes_batch, wd)
    run = lambda m: m(diabetes_batch[0])  # noqa: E731

    def attack(model: nn.Module) -> float:
        return _equation(model, diabetes_batch)

    undefended = attack(net)
    assert abs(undefended / wd - 1) < 0.1
    for factor, seed in ((4.0, 1), (100.0, 0)):
        defended = copy.deepcopy(net)
        rescale(defended, run, factor=factor, seed=seed)
        naive, adaptive = attack(defended), attack(rebalance(defended, run))
        print(
            f"ReLU MLP wd={wd:g}, rescale:{factor:g}: naive {naive / wd:.3f}x, "
            f"adaptive {adaptive / wd:.3f}x"
        )
        # the naive attacker's estimate drops by E[c²] (10x at C=4 here, 300x at C=100) ...
        assert naive < wd / 5
        # ... and the attacker who rebalances the network gets it back (both sides decayed)
        assert abs(adaptive / wd - 1) < 0.1
        assert abs(adaptive - undefended) / undefended < 0.05


def test_channel_median_reads_each_channel_and_scales_by_c_squared(
    diabetes_batch: Batch,
) -> None:
    wd = 1e-2
    torch.manual_seed(0)
    net = _train(nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1)), diabetes_batch, wd)
    run = lambda m: m(diabetes_batch[0])  # noqa: E731
    undefended = channel_median(net, _mse, [diabetes_batch], run)
    assert abs(undefended / wd - 1) < 0.1  # converged: every channel's own estimate is wd
    doubled = copy.deepcopy(net)
    (junction,) = trace(doubled, run).junctions
    apply_junction(module_paths(doubled), junction, torch.full((16,), 2.0).double())
    assert channel_median(doubled, _mse, [diabetes_batch], run) == pytest.approx(
        4 * undefended, rel=1e-3
    )


def test_all_decayed_batchnorm_junctions_are_undone_but_norm_feeds_are_not(
    diabetes_batch: Batch,
) -> None:
    wd = 1e-2
    net = _train(_mlp(nn.BatchNorm1d), diabetes_batch, wd, decay_norm_and_bias=True)
    run = lambda m: m(diabetes_batch[0])  # noqa: E731

    def attack(model: nn.Module) -> float:
        return _equation(model, diabetes_batch, decay_norm_and_bias=True)

    assert abs(attack(net) / wd - 1) < 0.1
    only = copy.deepcopy(net)
    rescale(only, run, factor=100.0, seed=0, norm_feeds=False)
    adaptive = attack(rebalance(only, run, decay_norm_and_bias=True))
    assert attack(only) < wd / 10 and abs(adaptive / wd - 1) < 0.05
    # rescaling the layer feeding BatchNorm moves the balance point of the junction it
    # consumes by c^(1/2); nothing pins that layer's scale, so the attacker cannot undo it
    both = copy.deepcopy(net)
    rescale(both, run, factor=100.0, seed=0)
    moved = attack(rebalance(both, run, decay_norm_and_bias=True))
    print(
        f"BN MLP, all decayed: junctions only {adaptive / wd:.3f}x, with norm feeds "
        f"{moved / wd:.3f}x"
    )
    assert abs(moved / wd - 1) > 0.3


def test_a_rescale_defence_is_recommended_only_if_the_adaptive_attacker_fails_too() -> None:
    import pandas as pd

    from audit.deep.pricing import recommend

    table = pd.DataFrame(
        {
            "defence": ["none", "rescale:4", "rescale:100", "noise:1e-2"],
            "estimate": [1.1e-3, 2e-5, 1e-6, 2e-2],
            "adaptive_estimate": [None, 1.2e-3, 5e-5, None],
            "mAP_lost": [0.0, 0.0, 0.0, 0.004],
        }
    )
    # rescale:4's naive estimate resists (50x low) but the adaptive one leaks
    assert recommend(table, 1e-3, 0.01) == "rescale:100"
    table.loc[2, "adaptive_estimate"] = 3e-4  # partial: now only the noise qualifies
    assert recommend(table, 1e-3, 0.01) == "noise:1e-2"


# -- a detector -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fcos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A tiny FCOS trained for six epochs on 48 synthetic images (mAP > 0), released."""
    from tuner.data.dataset import DetectionDataset
    from tuner.data.resolve import resolve_data
    from tuner.detectors import ModelSpec
    from tuner.release import save_release
    from tuner.train import TrainConfig, train_detector

    root = tmp_path_factory.mktemp("reparam")
    config = TrainConfig(epochs=6, batch_size=8, weight_decay=1e-3, hflip=0.0, seed=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERSEAL_CACHE", str(root / "cache"))
        mp.setenv("HYPERSEAL_HOME", str(root / "home"))
        splits = resolve_data("synthetic", images=48, size=64, seed=0)
        train, val = DetectionDataset(splits.train), DetectionDataset(splits.val)
        spec = ModelSpec("fcos", "tiny", 64, tuple(splits.class_names))
        result = train_detector(config, train, val, spec, device="cpu", eval_every=100)
        save_release(result.model, spec, root / "release")
        yield {
            "model": result.model,
            "val": val,
            "splits": splits,
            "config": config,
            "release": root / "release",
        }


def test_tiny_fcos_outputs_and_map_unchanged(fcos: dict[str, Any]) -> None:
    from tuner.evaluate import evaluate_model

    net, val = fcos["model"].cpu().eval(), fcos["val"]
    defended = copy.deepcopy(net)
    run = detector_probe(val)
    report = apply_defence(defended, Defence("rescale", 4.0), seed=0, run=run)
    assert report is not None
    print(f"tiny FCOS rescale:4: {report.describe()}; left out {report.skipped}")
    # every backbone BatchNorm and head GroupNorm junction, and every backbone conv
    assert len(report.junctions) == 13 and len(report.norm_feeds) >= 9
    assert report.deviation <= 1e-5
    images = [val[i][0].float() / 255 for i in range(4)]
    with torch.no_grad():
        a, b = net(images), defended(images)
    for x, y in zip(a, b, strict=True):
        assert len(x["boxes"]) == len(y["boxes"]) > 0
        assert torch.allclose(x["boxes"], y["boxes"], atol=1e-3)
        assert torch.allclose(x["scores"], y["scores"], atol=1e-5)
    before, after = (
        evaluate_model(net, val, torch.device("cpu")),
        evaluate_model(defended, val, torch.device("cpu")),
    )
    print(f"mAP {before['mAP']:.6f} -> {after['mAP']:.6f}")
    assert before["mAP"] > 0 and abs(before["mAP"] - after["mAP"]) <= 1e-6


def test_audit_model_prices_rescale_with_the_adaptive_attacker(
    fcos: dict[str, Any], tmp_path: Path
) -> None:
    from audit.deep.model_audit import audit_model
    from audit.deep.pricing import DEFENCE_COLUMNS
    from audit.deep.results import save_detector_audit
    from reports import render_audit_report
    from tuner.vault import KeyFile, generate_key_file

    report = audit_model(
        fcos["release"],
        fcos["splits"],
        truth=fcos["config"].to_dict(),
        defences="rescale:4,round:2",
        device="cpu",
        n_bootstrap=50,
    )
    table = report.defences.set_index("defence")
    print(table)
    assert list(report.defences.columns) == list(DEFENCE_COLUMNS)
    assert abs(table.loc["rescale:4", "mAP_lost"]) <= 1e-6
    assert math.isnan(table.loc["round:2", "adaptive_estimate"])
    assert math.isfinite(table.loc["rescale:4", "adaptive_estimate"])
    assert any(note.startswith("rescale:4: rescaled 13") for note in report.notes)
    rows = {r["defence"]: r for r in report.document()["defences"]}
    assert set(rows["rescale:4"]) >= {"adaptive_estimate", "adaptive_relative_error"}
    # the reports show the adaptive attacker under the rescale row; redacted, without its number
    generate_key_file(tmp_path / "k.key")
    out = save_detector_audit(report, tmp_path / "out", KeyFile(tmp_path / "k.key"))
    shown = render_audit_report(out, KeyFile(tmp_path / "k.key")).markdown.read_text()
    hidden = render_audit_report(out, KeyFile(tmp_path / "k.key"), redact=True)
    value = rows["rescale:4"]["adaptive_estimate"]
    assert "adaptive attacker" in shown and f"{value:.3e}" in shown
    redacted = hidden.markdown.read_text()
    assert "adaptive attacker" in redacted
    assert f"{value:.3e}" not in redacted and f"{value:.2e}" not in redacted
