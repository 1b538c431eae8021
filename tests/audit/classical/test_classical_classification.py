"""Classification learners against models scikit-learn (or hyperseal) trains itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, LinearSVC

from audit.classical.datasets import Dataset
from audit.classical.learners import KernelLogisticRegression, get_learner, learner_for
from audit.classical.steal import steal_from_estimator, steal_hyperparameters
from audit.errors import (
    NoEquationError,
    ShapeMismatchError,
    UnknownLearnerError,
    UnsupportedModelError,
)


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# -- logistic regression ------------------------------------------------------------------


@pytest.mark.parametrize("C", [1e-2, 1.0, 10.0])
def test_logistic_l2_lbfgs_binary(cancer: Dataset, C: float, fit: Any) -> None:
    model = fit(LogisticRegression(C=C, tol=1e-10, max_iter=5000), cancer.X_train, cancer.y_train)
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.learner == "logistic_l2"
    assert res.estimates["C"] == pytest.approx(C, rel=1e-5)
    assert res.lambdas["lambda"] == pytest.approx(1 / C, rel=1e-5)


def test_logistic_l2_multinomial(digits: Dataset, fit: Any) -> None:
    model = fit(LogisticRegression(C=0.1, tol=1e-10, max_iter=5000), digits.X_train, digits.y_train)
    res = steal_from_estimator(model, digits.X_train, digits.y_train)
    assert res.estimates["C"] == pytest.approx(0.1, rel=1e-5)
    assert res.extras["n_classes"] == 10


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
def test_logistic_l2_other_solvers(cancer: Dataset, solver: str, fit: Any) -> None:
    model = fit(LogisticRegression(C=0.5, solver=solver, tol=1e-10), cancer.X_train, cancer.y_train)
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.estimates["C"] == pytest.approx(0.5, rel=1e-4)


def test_liblinear_penalises_the_intercept(cancer: Dataset, fit: Any) -> None:
    model = fit(
        LogisticRegression(C=0.5, solver="liblinear", tol=1e-10, intercept_scaling=3.0),
        cancer.X_train,
        cancer.y_train,
    )
    lrn = learner_for(model)
    coefs = lrn.coefficients(model)
    assert coefs["penalize_intercept"] is True
    assert steal_hyperparameters(lrn, coefs, cancer.X_train, cancer.y_train).estimates[
        "C"
    ] == pytest.approx(0.5, rel=1e-3)
    # Treating the intercept as unpenalised is the wrong objective: a worse estimate.
    wrong = steal_hyperparameters(
        lrn, {**coefs, "penalize_intercept": False}, cancer.X_train, cancer.y_train
    )
    assert wrong.solution.relative_residual > 10 * (
        steal_hyperparameters(lrn, coefs, cancer.X_train, cancer.y_train).solution.relative_residual
    )


@pytest.mark.parametrize("solver", ["liblinear", "saga"])
def test_logistic_l1(cancer: Dataset, solver: str, fit: Any) -> None:
    model = fit(
        LogisticRegression(C=0.5, l1_ratio=1.0, solver=solver, tol=1e-8, max_iter=20_000),
        cancer.X_train,
        cancer.y_train,
    )
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.learner == "logistic_l1"
    assert rel(res.estimates["C"], 0.5) < 1e-3
    assert res.extras["n_nonzero"] < cancer.X_train.shape[1]


def test_logistic_elastic_net_recovers_both(iris2: Dataset, fit: Any) -> None:
    model = fit(
        LogisticRegression(C=2.0, l1_ratio=0.3, solver="saga", tol=1e-10, max_iter=100_000),
        iris2.X_train,
        iris2.y_train,
    )
    res = steal_from_estimator(model, iris2.X_train, iris2.y_train)
    assert res.learner == "logistic_elasticnet"
    assert rel(res.estimates["C"], 2.0) < 1e-4
    assert rel(res.estimates["l1_ratio"], 0.3) < 1e-3


def test_deprecated_penalty_spelling_is_read(cancer: Dataset, fit: Any) -> None:
    with pytest.warns(FutureWarning):
        model = LogisticRegression(penalty="l2", C=0.5, tol=1e-10).fit(
            cancer.X_train, cancer.y_train
        )
    assert learner_for(model).name == "logistic_l2"


def test_unpenalised_logistic_is_unknown(iris2: Dataset, fit: Any) -> None:
    model = fit(LogisticRegression(C=np.inf), iris2.X_train, iris2.y_train)
    with pytest.raises(UnknownLearnerError, match="unpenalised"):
        learner_for(model)


def test_class_weight_is_unsupported(iris2: Dataset, fit: Any) -> None:
    model = fit(LogisticRegression(class_weight="balanced"), iris2.X_train, iris2.y_train)
    with pytest.raises(UnsupportedModelError, match="class_weight"):
        steal_from_estimator(model, iris2.X_train, iris2.y_train)


def test_all_zero_logistic_has_no_equation(iris2: Dataset, fit: Any) -> None:
    model = fit(
        LogisticRegression(C=1e-3, l1_ratio=1.0, solver="liblinear"), iris2.X_train, iris2.y_train
    )
    assert not np.any(model.coef_)
    with pytest.raises(NoEquationError, match="every weight is zero"):
        steal_from_estimator(model, iris2.X_train, iris2.y_train)


def test_string_labels_and_unknown_labels(iris2: Dataset, fit: Any) -> None:
    labels = np.where(iris2.y_train == 1, "versicolor", "virginica")
    model = fit(LogisticRegression(C=1.0, tol=1e-10), iris2.X_train, labels)
    res = steal_from_estimator(model, iris2.X_train, labels)
    assert res.estimates["C"] == pytest.approx(1.0, rel=1e-5)
    bad = labels.copy()
    bad[0] = "setosa"
    with pytest.raises(ShapeMismatchError, match="setosa"):
        steal_from_estimator(model, iris2.X_train, bad)


# -- linear SVMs ---------------------------------------------------------------------------


@pytest.mark.parametrize("C", [1e-2, 1.0])
def test_linear_svc_squared_hinge(cancer: Dataset, C: float, fit: Any) -> None:
    model = fit(LinearSVC(C=C, tol=1e-10, max_iter=100_000), cancer.X_train, cancer.y_train)
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.learner == "linear_svc"
    assert rel(res.estimates["C"], C) < 1e-5


def test_linear_svc_one_vs_rest(digits: Dataset, fit: Any) -> None:
    model = fit(LinearSVC(C=0.01, tol=1e-10, max_iter=100_000), digits.X_train, digits.y_train)
    res = steal_from_estimator(model, digits.X_train, digits.y_train)
    assert rel(res.estimates["C"], 0.01) < 1e-5
    assert res.solution.n_equations == 10 * (digits.X_train.shape[1] + 1)


def test_linear_svc_l1(cancer: Dataset, fit: Any) -> None:
    model = fit(
        LinearSVC(C=0.5, penalty="l1", tol=1e-10, max_iter=100_000), cancer.X_train, cancer.y_train
    )
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.learner == "linear_svc_l1"
    assert rel(res.estimates["C"], 0.5) < 1e-4


def test_linear_svc_hinge_solves_for_margin_points(cancer: Dataset, fit: Any) -> None:
    model = fit(LinearSVC(C=1.0, loss="hinge", max_iter=100_000), cancer.X_train, cancer.y_train)
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.learner == "linear_svc_hinge"
    assert res.extras["n_on_margin"] > 0
    assert res.solution.n_unknowns == 1 + res.extras["n_on_margin"]
    # the dual solver clips margin violators at exactly C: near machine precision
    assert rel(res.estimates["C"], 1.0) < 1e-8


def test_linear_svc_hinge_falls_back_when_the_margin_absorbs_everything(
    iris2: Dataset, fit: Any
) -> None:
    model = fit(LinearSVC(C=1.0, loss="hinge", max_iter=100_000), iris2.X_train, iris2.y_train)
    res = steal_from_estimator(model, iris2.X_train, iris2.y_train)
    assert res.extras.get("margin_fallback") is True
    assert res.notes and "margin" in res.notes[0]
    assert rel(res.estimates["C"], 1.0) < 0.5


def test_crammer_singer_is_unsupported(iris2: Dataset, fit: Any) -> None:
    model = fit(LinearSVC(multi_class="crammer_singer"), iris2.X_train, iris2.y_train)
    with pytest.raises(UnsupportedModelError, match="crammer_singer"):
        steal_from_estimator(model, iris2.X_train, iris2.y_train)


# -- kernel SVM and kernel logistic regression ------------------------------------------------


@pytest.mark.parametrize("C", [1e-3, 1.0])
@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly"])
def test_kernel_svm_reads_c_off_the_clipped_dual(
    cancer: Dataset, C: float, kernel: str, fit: Any
) -> None:
    model = fit(SVC(C=C, kernel=kernel), cancer.X_train, cancer.y_train)
    res = steal_from_estimator(model, cancer.X_train, cancer.y_train)
    assert res.learner == "kernel_svm"
    assert rel(res.estimates["C"], C) < 1e-10


def test_kernel_svm_separable_gives_only_a_bound(iris2: Dataset, fit: Any) -> None:
    model = fit(SVC(C=1e3), iris2.X_train, iris2.y_train)
    with pytest.raises(NoEquationError, match="C >="):
        steal_from_estimator(model, iris2.X_train, iris2.y_train)


def test_kernel_svm_needs_the_training_rows(cancer: Dataset, fit: Any) -> None:
    model = fit(SVC(C=1.0), cancer.X_train, cancer.y_train)
    with pytest.raises(ShapeMismatchError, match="support vectors"):
        steal_from_estimator(model, cancer.X_train[::-1], cancer.y_train[::-1])


def test_kernel_svm_multiclass_is_unsupported(digits: Dataset, fit: Any) -> None:
    model = fit(SVC(C=1.0), digits.X_train[:100], digits.y_train[:100])
    with pytest.raises(UnsupportedModelError, match="classes"):
        get_learner("kernel_svm").coefficients(model)


@pytest.mark.parametrize("C", [1e-2, 1.0, 100.0])
def test_kernel_logistic(digits_binary: Dataset, C: float) -> None:
    model = KernelLogisticRegression(C=C, tol=1e-10).fit(
        digits_binary.X_train, digits_binary.y_train
    )
    assert model.converged_
    res = steal_from_estimator(model, digits_binary.X_train, digits_binary.y_train)
    assert res.learner == "kernel_logistic"
    assert rel(res.estimates["C"], C) < 1e-7


def test_kernel_logistic_is_a_classifier(iris2: Dataset) -> None:
    from sklearn.base import clone, is_classifier

    model = KernelLogisticRegression(C=1.0)
    assert is_classifier(model)
    fitted = clone(model).fit(iris2.X_train, iris2.y_train)
    assert fitted.score(iris2.X_test, iris2.y_test) > 0.8
    lrn = get_learner("kernel_logistic")
    coefs = lrn.coefficients(fitted)
    np.testing.assert_array_equal(lrn.predict(coefs, iris2.X_test), fitted.predict(iris2.X_test))


# -- tolerance relation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["logistic_l2", "logistic_l1", "linear_svc", "linear_svc_l1", "kernel_logistic"],
)
def test_error_shrinks_as_tol_shrinks(cancer: Dataset, name: str, fit: Any) -> None:
    lrn = get_learner(name)
    errors = []
    X, y = cancer.X_train[:250], cancer.y_train[:250]
    for tol in (1e-2, 1e-4, 1e-6, 1e-8):
        model = fit(lrn.make_estimator({"C": 0.3}, tol=tol), X, y)
        res = steal_from_estimator(model, X, y)
        errors.append(rel(res.estimates["C"], 0.3))
    assert errors[-1] < errors[0] / 100, errors
    assert errors[-1] < 1e-4, errors


def test_classifier_predictions_match_sklearn(cancer: Dataset, digits: Dataset, fit: Any) -> None:
    for model, data in (
        (LogisticRegression(C=1.0), cancer),
        (LogisticRegression(C=1.0, max_iter=2000), digits),
        (LinearSVC(C=1.0), digits),
        (SVC(C=1.0), cancer),
    ):
        model = fit(model, data.X_train, data.y_train)
        lrn = learner_for(model)
        coefs = lrn.coefficients(model)
        np.testing.assert_array_equal(lrn.predict(coefs, data.X_test), model.predict(data.X_test))
