"""Small neural networks: scikit-learn's MLP penalty convention, checked against sklearn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from audit.classical.datasets import Dataset
from audit.classical.learners import get_learner, learner_for
from audit.classical.steal import steal_from_estimator, steal_hyperparameters
from audit.errors import ModelFileError, ShapeMismatchError, UnsupportedModelError


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_our_gradient_is_sklearns_gradient(iris2: Dataset, fit: Any) -> None:
    """b + alpha*A must equal the gradient sklearn's own lbfgs objective computes."""
    model = fit(
        MLPClassifier(hidden_layer_sizes=(5,), alpha=0.7, max_iter=20, random_state=0),
        iris2.X_train,
        iris2.y_train,
    )
    lrn = learner_for(model)
    eq = lrn.equation(lrn.coefficients(model), iris2.X_train, iris2.y_train)
    y = (iris2.y_train == model.classes_[1]).astype(float)[:, None]
    acts = [iris2.X_train] + [None] * (model.n_layers_ - 1)
    deltas = [None] * (model.n_layers_ - 1)
    cg = [np.empty_like(w) for w in model.coefs_]
    ig = [np.empty_like(b) for b in model.intercepts_]
    _, cg, ig = model._backprop(iris2.X_train, y, None, acts, deltas, cg, ig)
    expected = np.concatenate([g.ravel() for g in cg] + [g.ravel() for g in ig])
    np.testing.assert_allclose(eq.b + 0.7 * eq.A[:, 0], expected, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("alpha", [1.0, 10.0])
def test_mlp_classifier_binary(cancer: Dataset, alpha: float, fit: Any) -> None:
    lrn = get_learner("mlp_classifier")
    X, y = cancer.X_train[:200], cancer.y_train[:200]
    model = fit(lrn.make_estimator({"alpha": alpha}, tol=1e-10), X, y)
    assert model.out_activation_ == "logistic"
    res = steal_from_estimator(model, X, y)
    assert res.learner == "mlp_classifier"
    assert rel(res.estimates["alpha"], alpha) < 1e-2


@pytest.mark.parametrize(("alpha", "bound"), [(0.1, 1e-2), (1.0, 1e-3), (10.0, 1e-3)])
def test_mlp_lbfgs_recovers_alpha(iris2: Dataset, alpha: float, bound: float, fit: Any) -> None:
    lrn = get_learner("mlp_classifier")
    model = fit(lrn.make_estimator({"alpha": alpha}, tol=1e-10), iris2.X_train, iris2.y_train)
    res = steal_from_estimator(model, iris2.X_train, iris2.y_train)
    assert rel(res.estimates["alpha"], alpha) < bound


def test_mlp_multiclass_softmax(digits: Dataset, fit: Any) -> None:
    lrn = get_learner("mlp_classifier")
    model = fit(lrn.make_estimator({"alpha": 1.0}, tol=1e-8), digits.X_train, digits.y_train)
    assert model.out_activation_ == "softmax"
    res = steal_from_estimator(model, digits.X_train, digits.y_train)
    assert rel(res.estimates["alpha"], 1.0) < 1e-2


def test_mlp_regressor(diabetes: Dataset, fit: Any) -> None:
    lrn = get_learner("mlp_regressor")
    model = fit(lrn.make_estimator({"alpha": 10.0}, tol=1e-10), diabetes.X_train, diabetes.y_train)
    res = steal_from_estimator(model, diabetes.X_train, diabetes.y_train)
    assert rel(res.estimates["alpha"], 10.0) < 1e-2
    coefs = lrn.coefficients(model)
    np.testing.assert_allclose(
        lrn.predict(coefs, diabetes.X_test), model.predict(diabetes.X_test), rtol=1e-10
    )


def test_mlp_relu_and_logistic_activations(iris2: Dataset, fit: Any) -> None:
    for activation in ("relu", "logistic", "identity"):
        model = fit(
            MLPClassifier(
                hidden_layer_sizes=(6,),
                activation=activation,
                solver="lbfgs",
                alpha=1.0,
                tol=1e-10,
                max_iter=5000,
                random_state=0,
            ),
            iris2.X_train,
            iris2.y_train,
        )
        res = steal_from_estimator(model, iris2.X_train, iris2.y_train)
        assert rel(res.estimates["alpha"], 1.0) < 1e-2, activation


def test_stochastic_solver_uses_the_batch_penalty_and_says_so(iris2: Dataset, fit: Any) -> None:
    model = fit(
        MLPClassifier(hidden_layer_sizes=(4,), alpha=1.0, max_iter=50, random_state=0),
        iris2.X_train,
        iris2.y_train,
    )
    res = steal_from_estimator(model, iris2.X_train, iris2.y_train)
    assert res.extras["penalty_rows"] == min(200, len(iris2.y_train))
    assert any("adam" in note for note in res.notes)


def test_mlp_file_checks(iris2: Dataset, fit: Any) -> None:
    lrn = get_learner("mlp_classifier")
    model = fit(lrn.make_estimator({"alpha": 1.0}), iris2.X_train, iris2.y_train)
    coefs = lrn.coefficients(model)
    with pytest.raises(ModelFileError, match="coef_0"):
        steal_hyperparameters(lrn, {"activation": "tanh"}, iris2.X_train, iris2.y_train)
    with pytest.raises(ShapeMismatchError, match="input features"):
        steal_hyperparameters(lrn, coefs, iris2.X_train[:, :2], iris2.y_train)
    broken = {**coefs, "intercept_0": np.zeros(3)}
    with pytest.raises(ShapeMismatchError, match="do not chain"):
        steal_hyperparameters(lrn, broken, iris2.X_train, iris2.y_train)


def test_poisson_regressor_is_unsupported(diabetes: Dataset, fit: Any) -> None:
    model = fit(
        MLPRegressor(hidden_layer_sizes=(3,), loss="poisson", max_iter=20),
        diabetes.X_train,
        np.abs(diabetes.y_train),
    )
    with pytest.raises(UnsupportedModelError, match="poisson"):
        steal_from_estimator(model, diabetes.X_train, np.abs(diabetes.y_train))
