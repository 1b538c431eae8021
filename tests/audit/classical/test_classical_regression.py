"""Regression learners against models scikit-learn trains itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from audit.classical.datasets import Dataset
from audit.classical.learners import get_learner, learner_for
from audit.classical.steal import steal_from_estimator, steal_hyperparameters
from audit.errors import NoEquationError, ShapeMismatchError, UnsupportedModelError


@pytest.mark.parametrize("alpha", [1e-3, 1e-1, 1.0, 10.0, 1e3])
@pytest.mark.parametrize("solver", ["auto", "svd", "cholesky"])
def test_ridge_is_recovered_to_1e_8(diabetes: Dataset, alpha: float, solver: str) -> None:
    model = Ridge(alpha=alpha, solver=solver).fit(diabetes.X_train, diabetes.y_train)
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
    assert res.learner == "ridge"
    assert res.estimates["alpha"] == pytest.approx(alpha, rel=1e-8)
    assert res.solution.relative_residual < 1e-8


def test_ridge_without_intercept(diabetes: Dataset) -> None:
    model = Ridge(alpha=3.0, fit_intercept=False).fit(diabetes.X_train, diabetes.y_train + 2.0)
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train + 2.0)
    assert res.estimates["alpha"] == pytest.approx(3.0, rel=1e-8)
    assert res.solution.n_equations == diabetes.X_train.shape[1]


@pytest.mark.parametrize("alpha", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize(
    "kernel", [{"kernel": "rbf"}, {"kernel": "linear"}, {"kernel": "poly", "degree": 2}]
)
def test_kernel_ridge_is_recovered_to_1e_8(
    diabetes: Dataset, alpha: float, kernel: dict[str, object]
) -> None:
    model = KernelRidge(alpha=alpha, **kernel).fit(diabetes.X_train, diabetes.y_train)
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
    assert res.learner == "kernel_ridge"
    assert res.estimates["alpha"] == pytest.approx(alpha, rel=1e-8)


def test_kernel_ridge_checks_the_rows_against_x_fit(diabetes: Dataset) -> None:
    model = KernelRidge(alpha=1.0, kernel="rbf").fit(diabetes.X_train, diabetes.y_train)
    shuffled = diabetes.X_train[::-1]
    with pytest.raises(ShapeMismatchError, match="training order"):
        steal_from_estimator(model, shuffled, diabetes.y_train)


def test_kernel_ridge_refuses_multi_target(diabetes: Dataset) -> None:
    Y = np.column_stack([diabetes.y_train, -diabetes.y_train])
    model = KernelRidge(alpha=1.0).fit(diabetes.X_train, Y)
    with pytest.raises(UnsupportedModelError, match="single-target"):
        get_learner("kernel_ridge").coefficients(model)


@pytest.mark.parametrize("alpha", [1e-3, 1e-2, 1e-1])
def test_lasso_reaches_its_tolerance(diabetes: Dataset, alpha: float, fit: Any) -> None:
    model = fit(Lasso(alpha=alpha, tol=1e-10, max_iter=100_000), diabetes.X_train, diabetes.y_train)
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
    assert res.estimates["alpha"] == pytest.approx(alpha, rel=1e-5)
    assert res.extras["n_nonzero"] == np.count_nonzero(model.coef_)


def test_lasso_zero_coordinates_give_a_lower_bound(diabetes: Dataset, fit: Any) -> None:
    model = fit(Lasso(alpha=0.1, tol=1e-10), diabetes.X_train, diabetes.y_train)
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
    assert res.extras["alpha_lower_bound"] <= 0.1 * (1 + 1e-6)


def test_all_zero_lasso_has_no_equation(diabetes: Dataset, fit: Any) -> None:
    model = fit(Lasso(alpha=10.0), diabetes.X_train, diabetes.y_train)
    assert not np.any(model.coef_)
    with pytest.raises(NoEquationError, match="alpha >="):
        steal_from_estimator(model, diabetes.X_train, diabetes.y_train)


@pytest.mark.parametrize(("alpha", "ratio"), [(0.01, 0.5), (0.05, 0.2), (0.003, 0.9)])
def test_elastic_net_recovers_both(diabetes: Dataset, alpha: float, ratio: float, fit: Any) -> None:
    model = fit(
        ElasticNet(alpha=alpha, l1_ratio=ratio, tol=1e-10, max_iter=100_000),
        diabetes.X_train,
        diabetes.y_train,
    )
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
    assert res.estimates["alpha"] == pytest.approx(alpha, rel=1e-4)
    assert res.estimates["l1_ratio"] == pytest.approx(ratio, rel=1e-4)
    assert set(res.lambdas) == {"lambda_l1", "lambda_l2"}
    assert res.solution.condition_number > 1


@pytest.mark.parametrize("name", ["lasso", "elastic_net"])
def test_coordinate_descent_error_shrinks_with_tol(diabetes: Dataset, name: str, fit: Any) -> None:
    lrn = get_learner(name)
    hyper = {"alpha": 0.003, "l1_ratio": 0.5}
    errors = []
    for tol in (1e-3, 1e-5, 1e-7, 1e-9):
        model = fit(lrn.make_estimator(hyper, tol=tol), diabetes.X_train, diabetes.y_train)
        res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
        errors.append(abs(res.estimates["alpha"] - 0.003) / 0.003)
    assert errors[-1] < errors[0] / 100
    assert errors[-1] < 1e-4


def test_learner_for_picks_the_regression_learners() -> None:
    assert learner_for(Ridge()).name == "ridge"
    assert learner_for(Lasso()).name == "lasso"
    assert learner_for(ElasticNet()).name == "elastic_net"
    assert learner_for(KernelRidge()).name == "kernel_ridge"


def test_predictions_from_coefficients_match_sklearn(diabetes: Dataset, fit: Any) -> None:
    for model in (
        Ridge(alpha=1.0),
        fit(Lasso(alpha=0.01), diabetes.X_train, diabetes.y_train),
        KernelRidge(alpha=1.0, kernel="rbf"),
    ):
        model = fit(model, diabetes.X_train, diabetes.y_train)
        lrn = learner_for(model)
        coefs = lrn.coefficients(model)
        np.testing.assert_allclose(
            lrn.predict(coefs, diabetes.X_test), model.predict(diabetes.X_test), rtol=1e-10
        )
        assert lrn.score(coefs, diabetes.X_test, diabetes.y_test) == pytest.approx(
            model.score(diabetes.X_test, diabetes.y_test)
        )


def test_regression_shape_and_target_checks(diabetes: Dataset) -> None:
    model = Ridge().fit(diabetes.X_train, diabetes.y_train)
    coefs = get_learner("ridge").coefficients(model)
    with pytest.raises(ShapeMismatchError, match="input features"):
        steal_hyperparameters("ridge", coefs, diabetes.X_train[:, :5], diabetes.y_train)
    with pytest.raises(ShapeMismatchError, match="one target value per row"):
        steal_hyperparameters("ridge", coefs, diabetes.X_train, diabetes.y_train[:-1])
    with pytest.raises(ShapeMismatchError, match="not numeric"):
        steal_hyperparameters(
            "ridge", coefs, diabetes.X_train, np.array(["a"] * len(diabetes.y_train))
        )
