"""Shared pieces of the linear regression learners (ridge, lasso, elastic net)."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.errors import NonFiniteError
from audit.learners.base import (
    Coefficients,
    check_data,
    check_features,
    float_array,
    optional_bool,
    regression_target,
    reject,
)


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
    b0 = float(np.asarray(coefs.get("intercept", 0.0) or 0.0, dtype=np.float64).reshape(-1)[0])
    if not np.isfinite(b0):
        raise NonFiniteError(f"{learner}: the intercept is NaN or infinite")
    r = t - X @ w - b0
    return X, w, r, fit_intercept


def intercept_row(r: np.ndarray, scale: float, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The unpenalised intercept's equation: ``−scale·Σr = 0`` (no hyperparameter in it)."""
    return np.array([-scale * r.sum()]), np.zeros((1, n_cols))


def linear_decision(coefs: Coefficients, X: Any, learner: str) -> np.ndarray:
    """``Xw + b``."""
    w = float_array(coefs, "coef", learner, ndim=1)
    X = check_features(X, learner)
    b0 = float(np.asarray(coefs.get("intercept", 0.0) or 0.0, dtype=np.float64).reshape(-1)[0])
    return X @ w + b0


def l1_lower_bound(X: np.ndarray, r: np.ndarray, zero: np.ndarray, n: int) -> float | None:
    """``max_j |X_jᵀ r| / n`` over zero coordinates: the L1 strength is at least this."""
    if not np.any(zero):
        return None
    return float(np.max(np.abs(X[:, zero].T @ r)) / n)
