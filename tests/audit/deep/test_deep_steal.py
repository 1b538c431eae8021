"""``steal_weight_decay`` on small networks trained to convergence with full-batch SGD.

Each network is trained here, by torch's SGD with coupled weight decay on the
parameters :func:`tuner.train.params.split_decayed` chooses (as hyperseal's
training does), on the standardised diabetes data, one batch of all rows (so
BatchNorm sees exactly the batch the audit evaluates).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from audit.classical.datasets import Dataset
from audit.deep.groups import norm_probe, parameter_groups
from audit.deep.steal import GROUP_COLUMNS, steal_weight_decay
from audit.deep.testing import train_full_batch
from audit.errors import AuditOptionError, NoEquationError, NonFiniteError, UnsupportedModelError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def _mlp(norm: bool, hidden: int = 16) -> nn.Sequential:
    torch.manual_seed(0)

    def block(n_in: int) -> list[nn.Module]:
        return [nn.Linear(n_in, hidden), *([nn.BatchNorm1d(hidden)] if norm else []), nn.Tanh()]

    return nn.Sequential(*block(10), *block(hidden), nn.Linear(hidden, 1))


def _train(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    wd: float,
    *,
    steps: int = 1500,
    lr: float = 0.2,
    decay_norm_and_bias: bool = False,
) -> nn.Module:
    """Full-batch SGD, momentum 0.9, cosine schedule, decay as hyperseal's training splits it."""
    return train_full_batch(
        model, _mse, batch, wd, steps=steps, lr=lr, decay_norm_and_bias=decay_norm_and_bias
    )


@pytest.fixture(scope="module")
def diabetes_batch(diabetes: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.tensor(diabetes.X_train, dtype=torch.float32)
    y = torch.tensor(diabetes.y_train, dtype=torch.float32)[:, None]
    return X, y


@pytest.mark.parametrize("wd", [1e-3, 1e-2, 1e-1])
def test_mlp_without_normalisation_within_25_percent(
    diabetes_batch: tuple[torch.Tensor, torch.Tensor], wd: float
) -> None:
    net = _train(_mlp(norm=False), diabetes_batch, wd)
    res = steal_weight_decay(net, _mse, [diabetes_batch], device="cpu")
    print(f"MLP, no norm, wd={wd:g}: estimate {res.estimate:.4g} plain {res.plain_estimate:.4g}")
    assert abs(res.estimate - wd) / wd < 0.25
    variants = res.variants.set_index("variant")
    # nothing is scale-invariant: the informative-group solve is the paper's
    assert variants.loc["train pooled", "estimate"] == pytest.approx(res.plain_estimate)
    assert abs(res.plain_estimate - wd) / wd < 0.05  # converged full-batch GD: nearly exact
    assert not res.normalised and res.reliable
    assert not res.groups["scale_invariant"].any()
    assert res.groups["informative"].all()
    assert list(res.groups.columns) == list(GROUP_COLUMNS)
    assert (res.groups["cosine"] < -0.9).all()  # at a stationary point ∇L ∥ −w
    assert res.ci is not None and res.ci[0] <= res.estimate <= res.ci[1]
    assert res.solution is not None and res.solution.relative_residual < 0.3


def test_mlp_with_batchnorm_flags_invariant_layers_and_beats_plain(
    diabetes_batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    wd = 1e-2
    net = _train(_mlp(norm=True), diabetes_batch, wd)
    res = steal_weight_decay(net, _mse, [diabetes_batch], device="cpu")
    groups = res.groups.set_index("group")
    print(
        f"MLP + BatchNorm, wd={wd:g}: estimate {res.estimate:.4g}, plain {res.plain_estimate:.4g}"
        f"\n{res.groups[['group', 'parameters', 'estimate', 'scale_invariant', 'cosine']]}"
    )
    # the two hidden Linear layers feed BatchNorm; the output layer does not
    assert groups.loc["0", "scale_invariant"] and groups.loc["3", "scale_invariant"]
    assert not groups.loc["6", "scale_invariant"]
    assert groups.loc["0", "followed_by_norm"] and groups.loc["3", "followed_by_norm"]
    assert res.scale_invariant_groups == ["0", "3"]
    assert abs(groups.loc["0", "cosine"]) < 1e-2 and abs(groups.loc["3", "cosine"]) < 1e-2
    # left in, they drag the paper's estimate toward zero; left out, the estimate is close
    informative = res.variants.set_index("variant").loc["train pooled", "estimate"]
    assert abs(math.log10(informative / wd)) < abs(math.log10(res.plain_estimate / wd))
    assert res.plain_estimate < informative and abs(informative - wd) / wd < 0.25
    worst = res.worst_case(wd)
    assert worst is not None and worst["ratio"] < 1.25
    # converged full-batch GD stops nearer its stationary point than the SGD-trained networks
    # the pick is calibrated on: its bias correction overshoots, but the interval holds the truth
    assert res.normalised and res.reliable and res.ci is not None and res.ci[0] <= wd <= res.ci[1]
    assert abs(math.log10(res.estimate / wd)) < math.log10(2)
    assert any("scale-invariant" in note for note in res.notes)


def test_exact_on_ridge_regression_with_many_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(120, 5, generator=gen, dtype=torch.float64)
    y = X @ torch.randn(5, generator=gen, dtype=torch.float64) + 0.3 * torch.randn(
        120, generator=gen, dtype=torch.float64
    )
    wd = 0.05
    # the minimiser of mean (Xw − y)² + wd/2 ‖w‖², in closed form
    w = torch.linalg.solve(
        2 * X.T @ X / 120 + wd * torch.eye(5, dtype=torch.float64), 2 * X.T @ y / 120
    )
    net = nn.Linear(5, 1, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(w[None])
    batches = [(X[i : i + 20], y[i : i + 20, None]) for i in range(0, 120, 20)]
    res = steal_weight_decay(net, _mse, batches, device="cpu", seed=1)
    raw = res.variants.set_index("variant").loc["train x2 pooled", "estimate"]
    assert raw == pytest.approx(wd, rel=1e-10)  # float64 model: float64 sums
    # the pick removes the bias SGD-trained networks show (a few per cent here)
    assert abs(res.estimate - wd) / wd < 0.05
    assert res.n_batches == 6 and res.n_decayed == 5
    assert res.ci is not None and res.ci[0] <= wd <= res.ci[1]
    assert "calibrated" in res.ci_method


def test_model_is_left_as_it_was(diabetes_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    net = _mlp(norm=True).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    steal_weight_decay(net, _mse, [diabetes_batch, diabetes_batch], device="cpu")
    assert not net.training
    for name, value in net.state_dict().items():
        assert torch.equal(value, before[name]), name  # running statistics restored too
    assert all(p.grad is None for p in net.parameters())


def test_decay_rule_and_custom_predicate(diabetes_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    net = _mlp(norm=True)
    plain = {g.name for g in parameter_groups(net)}
    everything = {g.name for g in parameter_groups(net, decay_norm_and_bias=True)}
    assert plain == {"0", "3", "6"}
    assert everything == {"0", "1", "3", "4", "6"}  # BatchNorm scales and shifts too
    only_last = steal_weight_decay(
        net, _mse, [diabetes_batch], device="cpu", decayed=lambda name, _: name.startswith("6.")
    )
    assert list(only_last.groups["group"]) == ["6"] and only_last.n_decayed == 17  # weight + bias


def test_norm_probe_sees_batch_statistics_only() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 2, 1),
        nn.GroupNorm(1, 2),
        nn.Conv2d(2, 1, 1),
    )
    x = torch.randn(2, 3, 8, 8)
    with norm_probe(net) as fed:
        net(x)
    assert fed == {"0": True, "3": True}
    net.eval()  # BatchNorm now applies stored statistics: conv 0 is no longer invariant
    with norm_probe(net) as fed:
        net(x)
    assert fed == {"3": True}


def test_adamw_is_refused_with_an_explanation() -> None:
    with pytest.raises(UnsupportedModelError, match="decoupled"):
        steal_weight_decay(nn.Linear(2, 1), _mse, [], optimizer="adamw")


def test_bad_input_is_refused() -> None:
    X, y = torch.randn(8, 2), torch.randn(8, 1)
    with pytest.raises(AuditOptionError, match="no batch"):
        steal_weight_decay(nn.Linear(2, 1), _mse, [], device="cpu")
    with pytest.raises(NonFiniteError, match="batch 1"):
        steal_weight_decay(nn.Linear(2, 1), _mse, [(X, y * math.nan)], device="cpu")
    with pytest.raises(NoEquationError, match="no decayed parameter"):
        steal_weight_decay(nn.BatchNorm1d(2), _mse, [(X, y)], device="cpu")
    zero = nn.Linear(2, 1)
    nn.init.zeros_(zero.weight)
    with pytest.raises(NoEquationError, match="zero"):
        steal_weight_decay(zero, _mse, [(X, y)], device="cpu")
    with pytest.raises(AuditOptionError, match="scalar"):
        steal_weight_decay(nn.Linear(2, 1), lambda m, b: m(b[0]), [(X, y)], device="cpu")


def test_groups_frame_types(diabetes_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    res = steal_weight_decay(_mlp(norm=True), _mse, [diabetes_batch], device="cpu")
    assert res.groups["scale_invariant"].dtype == bool
    assert res.groups["parameters"].sum() == res.n_decayed
    summary = res.summary()
    assert summary["scale_invariant_groups"] == ["0", "3"]
    assert np.isfinite(summary["plain_estimate"])
