"""Audit II's small parts: verdicts, defences, the combined estimator, the recommendation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from audit.deep.combine import bootstrap_interval
from audit.deep.defend import Defence, apply_defence, parse_defences
from audit.deep.options import check_options
from audit.deep.pricing import recommend
from audit.deep.recipe import Recipe, recipe_from_entry
from audit.deep.scale import invariance_statistic, is_scale_invariant
from audit.deep.verdict import errors_against, verdict_for
from audit.errors import AuditOptionError, NoEquationError
from audit.estimator import pooled_estimate, solve_hyperparameters, solve_reduced


@pytest.mark.parametrize(
    ("estimate", "verdict"),
    [
        (1e-3, "leaks"),
        (1.5e-3, "leaks"),
        (0.67e-3, "leaks"),
        (1.6e-3, "partial"),
        (1e-2, "partial"),
        (1e-4, "partial"),
        (1.01e-2, "resists"),
        (9e-5, "resists"),
        (-1e-3, "resists"),
        (0.0, "resists"),
        (math.nan, "resists"),
        (None, "resists"),
    ],
)
def test_verdict_thresholds(estimate: float | None, verdict: str) -> None:
    assert verdict_for(estimate, 1e-3) == verdict


def test_verdict_without_truth_or_for_adamw() -> None:
    assert verdict_for(1e-3, None) == "unknown"
    assert verdict_for(1e-3, 1e-3, optimizer="adamw") == "not-applicable"
    assert verdict_for(1e-3, 0.0) == "not-applicable"
    assert errors_against(2e-3, 1e-3) == pytest.approx((1.0, math.log10(2)))
    assert errors_against(-1e-3, 1e-3) == (pytest.approx(2.0), None)
    assert errors_against(None, 1e-3) == (None, None)
    assert errors_against(1e-3, None) == (None, None)


def test_defence_specs() -> None:
    plan = parse_defences("round:3, noise:1e-3,none,noise:0.001,round:2")
    assert [d.name for d in plan] == ["round:3", "noise:1e-3", "round:2"]
    assert plan[1] == Defence("noise", 1e-3)
    assert parse_defences(["round:1"]) == [Defence("round", 1)]
    assert parse_defences(None) == []
    for bad in ("blur:1", "round:1.5", "round:-1", "noise:0", "noise:x", "round"):
        with pytest.raises(AuditOptionError):
            parse_defences(bad)


def test_defences_touch_parameters_not_buffers() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    net[1].running_var.fill_(0.0012345)
    rounded = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    rounded.load_state_dict(net.state_dict())
    apply_defence(rounded, Defence("round", 2))
    assert torch.equal(rounded[0].weight, torch.round(net[0].weight, decimals=2))
    assert torch.equal(rounded[1].running_var, net[1].running_var)
    noisy = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    noisy.load_state_dict(net.state_dict())
    apply_defence(noisy, Defence("noise", 1e-2), seed=3)
    change = (noisy[0].weight - net[0].weight).pow(2).mean().sqrt()
    assert 0 < change < 0.05 * net[0].weight.pow(2).mean().sqrt()


def test_reduced_solve_equals_the_full_solve() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    b = -0.3 * a + 0.1 * rng.normal(size=500)
    full = solve_hyperparameters(b, a)
    reduced = solve_reduced(a @ a, a @ b, b @ b, n_equations=500, n_informative=500)
    assert reduced.values[0] == pytest.approx(full.values[0], rel=1e-12)
    assert reduced.residual_norm == pytest.approx(full.residual_norm, rel=1e-9)
    assert reduced.relative_residual == pytest.approx(full.relative_residual, rel=1e-9)
    assert reduced.n_equations == 500
    with pytest.raises(NoEquationError):
        solve_reduced(0.0, 0.0, 1.0, n_equations=3, n_informative=0)


def test_bootstrap_interval_covers_groups_and_batches() -> None:
    rng = np.random.default_rng(1)
    weight_sq = np.array([1.0, 2.0, 4.0])
    # three groups whose own estimates are 1, 2 and 4 (×1e-3), five noisy batches
    dots = -np.array([1e-3, 4e-3, 16e-3]) + 1e-4 * rng.normal(size=(5, 3))
    (lo, hi), method = bootstrap_interval(dots, weight_sq, seed=0)
    point = pooled_estimate(dots.mean(axis=0), weight_sq)
    assert lo < point < hi and lo < 2e-3 and hi > 3e-3
    assert "batches and informative groups" in method
    assert bootstrap_interval(dots[:1, :1], weight_sq[:1])[0] is None
    assert bootstrap_interval(dots[:, :0], weight_sq[:0])[0] is None
    one_group, method = bootstrap_interval(dots[:, :1], weight_sq[:1])
    assert one_group is not None and "informative" not in method


def test_invariance_statistic() -> None:
    dots = np.array([[0.0, 1.0, 0.0], [1e-9, -2.0, 0.0]])
    sq = np.array([[1.0, 1.0, 0.0], [1.0, 4.0, 0.0]])
    stat = invariance_statistic(dots, sq, np.array([1.0, 1.0, 1.0]))
    assert stat[0] == pytest.approx(1e-9) and stat[1] == pytest.approx(1.0)
    assert math.isnan(stat[2])  # never a gradient
    assert list(is_scale_invariant(stat, np.array([10, 10, 10]))) == [True, False, False]
    # a big layer needs a smaller statistic: 1e-3 is what a random direction gives at 1e6
    assert list(is_scale_invariant(np.array([5e-4, 5e-5]), np.array([1e6, 1e6]))) == [False, True]


def test_recommendation_is_the_cheapest_sufficient_defence() -> None:
    table = pd.DataFrame(
        {
            "defence": ["none", "round:4", "round:3", "noise:1e-3", "round:2"],
            "estimate": [1.1e-3, 1.2e-3, 2e-2, 3e-2, 1e-1],
            "mAP_lost": [0.0, 0.0, 0.004, 0.002, 0.05],
        }
    )
    assert recommend(table, 1e-3, 0.01) == "noise:1e-3"
    assert recommend(table, 1e-3, 0.001) is None
    assert recommend(table, None, 0.01) is None


def test_recipe_from_a_tuning_entry() -> None:
    entry = {"config": {"optimizer": "sgd", "weight_decay": 3e-4, "batch_size": 16}, "x": 1}
    assert recipe_from_entry(entry) == Recipe("sgd", 3e-4, False, 16, 0.02, 0.9)
    assert recipe_from_entry({"weight_decay": 0.01}).batch_size == 8  # training's default
    with pytest.raises(AuditOptionError, match="no training config"):
        recipe_from_entry({"metrics": {}})
    with pytest.raises(AuditOptionError, match="weight_decay"):
        recipe_from_entry({"config": {"weight_decay": -1}})


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"seed": -1}, "--seed -1"),
        ({"seed": 2**64}, "--seed"),
        ({"device": "meta"}, "--device"),
        # what a notebook may pass: one line each, not a TypeError from deep inside
        ({"known_fraction": "0.5"}, "known_fraction '0.5' must be a number, not str"),
        ({"seed": 1.5}, "seed 1.5 must be an int"),
        ({"batch_size": True}, "batch_size True"),
        ({"defences": ["round:3", 5]}, "defence 5 is not text"),
        ({"defences": 5}, "give a comma-separated string or a list"),
    ],
)
def test_seed_and_device_are_checked_before_any_work(options: dict, words: str) -> None:
    with pytest.raises(AuditOptionError, match=words):
        check_options(**options)
    assert check_options(seed=0, device="cpu") == []


def test_a_detector_audit_prints_no_calibrated_interval() -> None:
    """The calibration is measured on classifiers; a detector's audit withdraws the interval."""
    from audit.deep.model_audit import DETECTOR_INTERVAL, _uncalibrated_for_detectors
    from audit.deep.steal import steal_weight_decay
    from audit.deep.testing import cross_entropy, train_reference

    torch.set_num_threads(1)
    ref = train_reference("mlp-none", 3e-2, batch_size=64, epochs=10, seed=1)
    res = steal_weight_decay(ref.model, cross_entropy, ref.batches(), device="cpu")
    assert res.reliable and res.ci is not None
    withdrawn = _uncalibrated_for_detectors(res)
    assert withdrawn.ci is None and withdrawn.reliable and withdrawn.pinned is None
    assert withdrawn.estimate == res.estimate and withdrawn.worst_case(3e-2) == res.worst_case(3e-2)
    assert withdrawn.ci_method == DETECTOR_INTERVAL and DETECTOR_INTERVAL in withdrawn.notes
