"""Rows of the reproduction that are not measurements of leakage carry a status and stay out
of the medians: estimates out of range, unidentifiable hyperparameters, collapsed models,
unconverged solvers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audit.classical.datasets import load_dataset
from audit.classical.experiments import train_and_steal
from audit.classical.learners import get_learner
from audit.classical.reproduction import median_errors, status_counts
from audit.classical.status import (
    IDENTIFIABLE_RESIDUAL,
    PRECEDENCE,
    STATUSES,
    judge_estimate,
    prediction_facts,
)
from audit.classical.tables import COLUMNS, ReproduceConfig, estimation_table, same_estimates

# -- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimates", "bad"),
    [
        ({"C": 1.0}, None),
        ({"C": -7.38}, "C = -7.38 is outside C > 0"),
        ({"C": 0.0}, "C = 0 is outside C > 0"),
        ({"alpha": -1e-3}, "alpha = -0.001"),
        ({"alpha": math.inf}, "alpha = inf"),
        ({"alpha": math.nan}, "alpha = nan"),
        ({"alpha": 0.1, "l1_ratio": 0.0}, None),
        ({"alpha": 0.1, "l1_ratio": 1.0}, None),
        ({"C": 46.2, "l1_ratio": -0.064}, "l1_ratio = -0.064 is outside 0 <= l1_ratio <= 1"),
        ({"alpha": 0.1, "l1_ratio": 1.2}, "l1_ratio = 1.2 is outside"),
    ],
)
def test_estimates_outside_the_valid_range(estimates: dict[str, float], bad: str | None) -> None:
    verdict = judge_estimate(estimates, relative_residual=0.01)
    assert verdict.ok is (bad is None)
    if bad is not None:
        assert verdict.status == "out_of_range" and bad in verdict.reason


def test_relative_residual_near_one_is_not_identifiable() -> None:
    assert judge_estimate({"C": 41.6}, relative_residual=0.999).status == "not_identifiable"
    assert judge_estimate({"C": 41.6}, relative_residual=0.96).status == "not_identifiable"
    assert judge_estimate({"C": 41.6}, relative_residual=0.9).ok
    # the threshold: the regulariser explains 10 % of the squared loss gradient
    assert pytest.approx(0.9) == IDENTIFIABLE_RESIDUAL**2


def test_the_same_estimate_for_another_true_value_is_not_identifiable() -> None:
    verdict = judge_estimate({"C": 4.624}, relative_residual=0.2, same_estimate_as="C = 1000")
    assert verdict.status == "not_identifiable" and "C = 1000" in verdict.reason


@pytest.mark.parametrize(
    ("facts", "collapsed"),
    [
        ({"test_score": 0.48, "chance_score": 0.52}, True),  # below the majority share
        ({"test_score": 0.52, "chance_score": 0.52}, True),  # a constant predictor's score
        ({"test_score": 0.56, "chance_score": 0.52}, False),
        ({"test_score": -0.9, "chance_score": None}, False),  # overfit regressor: not collapsed
        ({"test_score": 0.0, "constant_predictions": True}, True),
    ],
)
def test_collapsed_models(facts: dict[str, object], collapsed: bool) -> None:
    verdict = judge_estimate({"alpha": 8.09}, relative_residual=0.1, **facts)  # type: ignore[arg-type]
    assert (verdict.status == "collapsed") is collapsed
    assert verdict.ok is not collapsed


def test_unconverged_solver() -> None:
    verdict = judge_estimate({"C": 0.71}, relative_residual=0.6, converged=False)
    assert verdict.status == "not_converged" and "converge" in verdict.reason


def test_precedence_names_one_status_and_lists_every_reason() -> None:
    verdict = judge_estimate(
        {"C": -7.38},
        relative_residual=0.99,
        converged=False,
        test_score=0.4,
        chance_score=0.5,
    )
    assert verdict.status == PRECEDENCE[0] == "out_of_range"
    assert len(verdict.reasons) == 4
    assert [r.split(":")[0] for r in verdict.reasons] == [
        "estimate out of range",
        "model collapsed",
        "not identifiable",
        "not converged",
    ]
    assert set(PRECEDENCE) | {"ok", "no_equation", "failed"} == set(STATUSES)


def test_prediction_facts_of_a_constant_classifier_and_regressor() -> None:
    lrn = get_learner("logistic_l2")
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([0, 0, 0, 1])
    constant = {"coef": np.zeros((1, 1)), "intercept": np.array([-1.0]), "classes": [0, 1]}
    facts = prediction_facts(lrn, constant, X, y)
    assert facts["constant_predictions"] and facts["chance_score"] == 0.75
    assert judge_estimate({"C": 1.0}, relative_residual=0.0, **facts).status == "collapsed"
    ridge = get_learner("ridge")
    flat = prediction_facts(ridge, {"coef": np.zeros(1), "intercept": 0.3}, X, y * 1.0)
    assert flat["constant_predictions"] and flat["chance_score"] is None
    moving = prediction_facts(ridge, {"coef": np.ones(1), "intercept": 0.0}, X, y * 1.0)
    assert not moving["constant_predictions"]


# -- the named cases of the full run, trained small and fast -------------------------------


def test_negative_estimate_row_is_out_of_range_and_left_out_of_the_median() -> None:
    config = ReproduceConfig(learners=("linear_svc_hinge",), all_datasets=False, values=(1e3,))
    table = estimation_table(config)
    row = table.iloc[0]
    assert row["estimate"] < 0  # liblinear stopped at max_iter: C = -7.38 on iris2
    assert row["status"] == "out_of_range" and "C > 0" in row["message"]
    medians = median_errors(table)
    assert medians.loc["linear_svc_hinge", "ok"] == 0
    assert math.isnan(medians.loc["linear_svc_hinge", "median_relative_error"])


def test_negative_l1_ratio_marks_every_row_of_its_model() -> None:
    data = load_dataset("breast_cancer")
    trial = train_and_steal(
        "logistic_elasticnet", {"C": 100.0, "l1_ratio": 0.5}, data.X_train, data.y_train
    )
    trial.judge(data.X_test, data.y_test)
    rows = trial.rows({"learner": "logistic_elasticnet", "dataset": "breast_cancer"})
    assert trial.result is not None and trial.result.estimates["l1_ratio"] < 0
    assert [r["status"] for r in rows] == ["out_of_range", "out_of_range"]  # C's row too
    assert "l1_ratio" in rows[0]["message"]


def test_weights_that_do_not_move_with_c_are_not_identifiable() -> None:
    data = load_dataset("breast_cancer")
    trials = [
        train_and_steal("linear_svc_hinge", {"C": c}, data.X_train, data.y_train)
        for c in (1.0, 100.0, 1000.0)
    ]
    twins = same_estimates(trials)
    assert twins == [None, "C = 1000", "C = 100"]
    for trial, twin in zip(trials, twins, strict=True):
        trial.judge(data.X_test, data.y_test, same_estimate_as=twin)
    assert [t.status for t in trials] == ["ok", "not_identifiable", "not_identifiable"]
    assert "same estimate" in trials[1].message


def test_collapsed_mlp_is_left_out() -> None:
    config = ReproduceConfig(learners=("mlp_classifier",), all_datasets=False, values=(1.0, 100.0))
    table = estimation_table(config)
    assert list(table.columns) == list(COLUMNS["estimation"])
    strong = table[table["true_value"] == 100.0].iloc[0]
    assert strong["test_score"] <= strong["chance_score"]  # 0.48 on iris2: chance is 0.52
    assert strong["status"] == "collapsed" and strong["relative_error"] > 0.5
    assert not math.isnan(strong["estimate"])  # the estimate stays for the reader
    weak = table[table["true_value"] == 1.0].iloc[0]
    assert weak["status"] == "ok"
    medians = median_errors(table)
    assert medians.loc["mlp_classifier", "median_relative_error"] == weak["relative_error"]
    assert status_counts(table) == {"ok": 1, "collapsed": 1}


def test_median_errors_use_ok_rows_only() -> None:
    table = pd.DataFrame(
        {
            "learner": ["a"] * 5 + ["b"],
            "relative_error": [1e-3, 2e-3, 0.9, 1.0, np.nan, 0.5],
            "log10_error": [4e-4, 9e-4, 1.0, np.inf, np.nan, 0.2],
            "status": ["ok", "ok", "not_identifiable", "out_of_range", "no_equation", "collapsed"],
        }
    )
    medians = median_errors(table)
    assert medians.loc["a", "median_relative_error"] == pytest.approx(1.5e-3)
    assert (medians.loc["a", "ok"], medians.loc["a", "not_ok"]) == (2, 3)
    assert medians.loc["b", "ok"] == 0 and math.isnan(medians.loc["b", "median_relative_error"])


def test_solver_converged_reads_the_iteration_count(fit: object) -> None:
    from sklearn.linear_model import LogisticRegression, Ridge

    from audit.classical.learners import KernelLogisticRegression
    from audit.classical.sklearn_audit import solver_converged

    data = load_dataset("breast_cancer")
    X, y = data.X_train, data.y_train
    assert solver_converged(Ridge().fit(X, y))  # exact: no iteration count
    assert solver_converged(fit(LogisticRegression(max_iter=1000), X, y))  # type: ignore[operator]
    assert not solver_converged(fit(LogisticRegression(max_iter=2), X, y))  # type: ignore[operator]
    stuck = fit(KernelLogisticRegression(C=1.0, max_iter=1), X[:60], y[:60])  # type: ignore[operator]
    assert stuck.converged_ is False and not solver_converged(stuck)
