"""Kernel ridge regression as scikit-learn's ``KernelRidge`` defines it (dual form).

Objective in the dual coefficients ``c`` (``f = K c``, no intercept)::

    ‖y − K c‖² + alpha · cᵀ K c

Its stationarity, ``K((K + alpha·I) c − y) = 0``, is what ``KernelRidge``
solves exactly: ``(K + alpha·I) c = y``. The audit uses the equation with the
common positive-definite factor ``K`` dropped,
``(K c − y) + alpha · c = 0``: one equation per training point, ``λ = alpha``.
Keeping the factor (the paper's literal gradient) squares ``K``'s condition
number and loses digits for smooth kernels without adding information.

``KernelRidge`` stores its training features (``X_fit_``): the audit checks the
attacker's rows against them and needs only the target from the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audit.classical.learners._kernels import kernel_matrix, kernel_settings
from audit.classical.learners._rows import match_rows
from audit.classical.learners.base import (
    Coefficients,
    Equation,
    Learner,
    check_data,
    check_features,
    float_array,
    regression_target,
    reject,
    wrong_estimator,
)
from audit.errors import ShapeMismatchError

__all__ = ["KernelRidgeLearner"]


class KernelRidgeLearner(Learner):
    """``sklearn.kernel_ridge.KernelRidge`` (single target, one alpha, no sample weights)."""

    name = "kernel_ridge"
    task = "regression"
    library = "sklearn.kernel_ridge.KernelRidge"
    objective = "||y - K c||^2 + alpha * c^T K c, solved as (K + alpha*I) c = y"
    paper_form = "dual stationarity (K c - y) + lambda * c = 0, lambda = alpha"
    hyperparameters = ("alpha",)
    weight_keys = ("dual_coef",)
    iterative = False

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        return {"alpha": float(lambdas[0])}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array([float(hyper["alpha"])])

    def _fit_rows(self, coefs: Coefficients, X: np.ndarray | None) -> np.ndarray:
        if coefs.get("X_fit") is not None:
            stored = float_array(coefs, "X_fit", self.name, ndim=2)
            if X is not None:
                match_rows(stored, X, self.name, "training features (X_fit)")
            return stored
        if X is None:
            return float_array(coefs, "X_fit", self.name, ndim=2)
        return X

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        c = float_array(coefs, "dual_coef", self.name, ndim=1)
        X, y = check_data(X, y, self.name)
        t = regression_target(y, self.name)
        if c.shape[0] != X.shape[0]:
            raise ShapeMismatchError(
                f"{self.name}: {c.shape[0]} dual coefficients but {X.shape[0]} data rows; "
                "pass exactly the training rows"
            )
        Xf = self._fit_rows(coefs, X)
        K = kernel_matrix(coefs, Xf, Xf)
        return Equation(b=K @ c - t, A=c[:, None])

    def accepts(self, estimator: Any) -> bool:
        from sklearn.kernel_ridge import KernelRidge

        return type(estimator) is KernelRidge

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        dual = np.asarray(estimator.dual_coef_, dtype=np.float64)
        if dual.ndim == 2 and dual.shape[1] == 1:
            dual = dual[:, 0]
        if dual.ndim != 1:
            raise reject(estimator, self.name, "several targets", "audits single-target models")
        if np.ndim(estimator.alpha) and np.size(estimator.alpha) > 1:
            raise reject(estimator, self.name, "one alpha per target", "audits one alpha")
        if estimator.kernel == "precomputed":
            raise reject(
                estimator, self.name, "a precomputed kernel", "needs the kernel to recompute it"
            )
        return {
            "dual_coef": dual,
            "X_fit": np.asarray(estimator.X_fit_, dtype=np.float64),
            **kernel_settings(estimator),
        }

    def make_estimator(
        self, hyper: Mapping[str, float], *, tol: float | None = None, random_state: int = 0
    ) -> Any:
        from sklearn.kernel_ridge import KernelRidge

        return KernelRidge(alpha=float(hyper["alpha"]), kernel="rbf")

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        c = float_array(coefs, "dual_coef", self.name, ndim=1)
        X = check_features(X, self.name)
        Xf = float_array(coefs, "X_fit", self.name, ndim=2)
        return kernel_matrix(coefs, X, Xf) @ c
