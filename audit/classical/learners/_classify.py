"""Shared pieces of the linear classifiers (logistic regression, linear SVMs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.classical.learners.base import (
    Coefficients,
    check_data,
    check_features,
    class_indices,
    float_array,
    optional_bool,
    optional_float,
    resolve_classes,
    wrong_estimator,
)
from audit.errors import NonFiniteError, ShapeMismatchError


def linear_classifier_coefficients(
    estimator: Any, learner: str, penalize_intercept: bool
) -> dict[str, Any]:
    """``coef`` (k, p), ``intercept`` (k,), ``classes`` and intercept settings."""
    if not hasattr(estimator, "coef_"):
        raise wrong_estimator(estimator, learner)
    fit_intercept = bool(estimator.fit_intercept)
    return {
        "coef": np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64)),
        "intercept": np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64)),
        "classes": np.asarray(estimator.classes_),
        "fit_intercept": fit_intercept,
        "penalize_intercept": bool(penalize_intercept and fit_intercept),
        "intercept_scaling": float(getattr(estimator, "intercept_scaling", 1.0)),
    }


class LinearParts:
    """Checked weights, data and label indices of a linear classifier."""

    def __init__(self, coefs: Coefficients, X: Any, y: Any, learner: str) -> None:
        W = float_array(coefs, "coef", learner)
        W = np.atleast_2d(W)
        if W.ndim != 2:
            raise ShapeMismatchError(
                f"{learner}: coef has shape {W.shape}, expected (n_classes or 1, n_features)"
            )
        X, y = check_data(X, y, learner, n_features=W.shape[1])
        self.classes = resolve_classes(coefs, y)
        self.idx = class_indices(y, self.classes, learner)
        n_classes = len(self.classes)
        expected = 1 if n_classes == 2 else n_classes
        if W.shape[0] != expected:
            raise ShapeMismatchError(
                f"{learner}: coef has {W.shape[0]} row(s) for {n_classes} classes "
                f"(expected {expected}); pass the data the model was trained on"
            )
        self.fit_intercept = optional_bool(coefs, "fit_intercept", True)
        raw = coefs.get("intercept")
        b0 = (
            np.zeros(W.shape[0])
            if raw is None
            else np.atleast_1d(float_array(coefs, "intercept", learner))
        )
        if b0.shape != (W.shape[0],):
            raise ShapeMismatchError(
                f"{learner}: intercept has shape {b0.shape}, expected ({W.shape[0]},)"
            )
        if not np.all(np.isfinite(b0)):
            raise NonFiniteError(f"{learner}: the intercept holds NaN or infinity")
        self.penalize_intercept = self.fit_intercept and optional_bool(
            coefs, "penalize_intercept", False
        )
        self.scaling = optional_float(coefs, "intercept_scaling", 1.0)
        self.W, self.b0, self.X = W, b0, X

    @property
    def scores(self) -> np.ndarray:
        """Decision scores ``X Wᵀ + b`` of shape (n, k)."""
        return self.X @ self.W.T + self.b0

    def signs(self) -> np.ndarray:
        """±1 targets of shape (n, k): one-vs-rest, class ``k`` (or ``classes[1]``) positive."""
        if self.W.shape[0] == 1:
            return np.where(self.idx == 1, 1.0, -1.0)[:, None]
        return np.where(self.idx[:, None] == np.arange(self.W.shape[0])[None, :], 1.0, -1.0)


def linear_classifier_decision(coefs: Coefficients, X: Any, learner: str) -> np.ndarray:
    """``X Wᵀ + b``: a vector for two classes, a matrix otherwise."""
    W = np.atleast_2d(float_array(coefs, "coef", learner))
    X = check_features(X, learner)
    raw = coefs.get("intercept")
    b0 = (
        np.zeros(W.shape[0])
        if raw is None
        else np.atleast_1d(float_array(coefs, "intercept", learner))
    )
    scores = X @ W.T + b0
    return scores[:, 0] if W.shape[0] == 1 else scores


def penalty_rows(
    grad_w: np.ndarray,
    weights: np.ndarray,
    kind: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``(b, A)`` of a penalty on ``weights`` and the mask of coordinates used.

    ``kind`` is ``"l2"`` (``R = ½‖w‖²``, all coordinates), ``"l1"`` (``R = ‖w‖₁``,
    non-zero coordinates) or ``"elasticnet"`` (both columns, non-zero coordinates).
    """
    g, w = grad_w.ravel(), weights.ravel()
    if kind == "l2":
        mask = np.ones_like(w, dtype=bool)
        return g, w[:, None], mask
    mask = w != 0
    if kind == "l1":
        return g[mask], np.sign(w[mask])[:, None], mask
    return g[mask], np.column_stack([np.sign(w[mask]), w[mask]]), mask
