"""Shared pieces of the linear regression learners (ridge, lasso, elastic net)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from audit.classical.learners.base import (
    Coefficients,
    Equation,
    Learner,
    check_data,
    check_features,
    float_array,
    intercept_scalar,
    optional_bool,
    regression_target,
    reject,
    wrong_estimator,
)
from audit.errors import NoEquationError

Rows = tuple[np.ndarray, np.ndarray, dict[str, Any]]
"""``b``, ``A`` and the report's extras of the weights' equations."""


class LinearRegressionLearner(Learner):
    """A single-target scikit-learn linear regressor: ``Xw + b`` fitted to ``y``.

    Subclasses give the estimator class, the weights' equations and the
    intercept equation's scale; this class checks the data, adds the
    (hyperparameter-free) intercept equation, and reads and applies the weights.
    """

    task = "regression"
    weight_keys = ("coef", "intercept")

    @abstractmethod
    def weight_rows(self, X: np.ndarray, w: np.ndarray, r: np.ndarray) -> Rows:
        """The weights' stationarity equations at residuals ``r``."""

    def intercept_scale(self, n: int) -> float:
        """The loss gradient's factor on ``Σr`` (``1/n`` when the loss is a mean)."""
        return 1.0 / n

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        X, w, r, fit_intercept = residuals(coefs, X, y, self.name)
        b, A, extras = self.weight_rows(X, w, r)
        if fit_intercept:
            bi, Ai = intercept_row(r, self.intercept_scale(X.shape[0]), A.shape[1])
            b, A = np.concatenate([b, bi]), np.vstack([A, Ai])
        return Equation(b=b, A=A, extras=extras)

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        return linear_coefficients(estimator, self.name)

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        return linear_decision(coefs, X, self.name)


def l1_rows(
    X: np.ndarray, w: np.ndarray, r: np.ndarray, learner: str, strength: str
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Loss gradient ``−X_jᵀr / n`` on the non-zero weights, the mask, the L1 lower bound.

    Raises :class:`NoEquationError` when every weight is zero (only the bound is known);
    ``strength`` names the L1 strength in that message.
    """
    n = X.shape[0]
    active = w != 0
    bound = l1_lower_bound(X, r, ~active, n)
    if not np.any(active):
        raise NoEquationError(
            f"{learner}: every weight is zero, so the weights only bound "
            f"{strength} >= {bound:.3g}; no equation to solve"
        )
    return -(X[:, active].T @ r) / n, active, bound


def linear_coefficients(estimator: Any, learner: str) -> dict[str, Any]:
    """``coef``, ``intercept`` and ``fit_intercept`` of a fitted single-target linear model."""
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] == 1:
        coef = coef[0]
    if coef.ndim != 1:
        raise reject(
            estimator, learner, f"{coef.shape[0]} targets", "audits single-target models only"
        )
    intercept = float(np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)[0])
    return {
        "coef": coef,
        "intercept": intercept,
        "fit_intercept": bool(estimator.fit_intercept),
    }


def residuals(
    coefs: Coefficients, X: Any, y: Any, learner: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Checked ``X``, weights ``w``, residuals ``y − Xw − b`` and whether there is an intercept."""
    w = float_array(coefs, "coef", learner, ndim=1)
    X, y = check_data(X, y, learner, n_features=w.shape[0])
    t = regression_target(y, learner)
    fit_intercept = optional_bool(coefs, "fit_intercept", True)
    b0 = intercept_scalar(coefs, learner)
    r = t - X @ w - b0
    return X, w, r, fit_intercept


def intercept_row(r: np.ndarray, scale: float, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The unpenalised intercept's equation: ``−scale·Σr = 0`` (no hyperparameter in it)."""
    return np.array([-scale * r.sum()]), np.zeros((1, n_cols))


def linear_decision(coefs: Coefficients, X: Any, learner: str) -> np.ndarray:
    """``Xw + b``."""
    w = float_array(coefs, "coef", learner, ndim=1)
    X = check_features(X, learner)
    return X @ w + intercept_scalar(coefs, learner)


def l1_lower_bound(X: np.ndarray, r: np.ndarray, zero: np.ndarray, n: int) -> float | None:
    """``max_j |X_jᵀ r| / n`` over zero coordinates: the L1 strength is at least this."""
    if not np.any(zero):
        return None
    return float(np.max(np.abs(X[:, zero].T @ r)) / n)
