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

from typing import Any, ClassVar

import numpy as np

from audit.classical.learners._kernels import dual_coef_and_data, kernel_matrix, kernel_settings
from audit.classical.learners._rows import match_rows
from audit.classical.learners.base import (
    AlphaLearner,
    Coefficients,
    Equation,
    check_features,
    float_array,
    regression_target,
    reject,
    wrong_estimator,
)

__all__ = ["KernelRidgeLearner"]


class KernelRidgeLearner(AlphaLearner):
    """``sklearn.kernel_ridge.KernelRidge`` (single target, one alpha, no sample weights)."""

    name = "kernel_ridge"
    task = "regression"
    library = "sklearn.kernel_ridge.KernelRidge"
    objective = "||y - K c||^2 + alpha * c^T K c, solved as (K + alpha*I) c = y"
    paper_form = "dual stationarity (K c - y) + lambda * c = 0, lambda = alpha"
    weight_keys = ("dual_coef",)
    iterative = False
    estimator_defaults: ClassVar[dict[str, Any]] = {"kernel": "rbf"}
    takes_tol = False

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
        c, X, y = dual_coef_and_data(coefs, X, y, self.name)
        t = regression_target(y, self.name)
        Xf = self._fit_rows(coefs, X)
        K = kernel_matrix(coefs, Xf, Xf)
        return Equation(b=K @ c - t, A=c[:, None])

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

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        c = float_array(coefs, "dual_coef", self.name, ndim=1)
        X = check_features(X, self.name)
        Xf = float_array(coefs, "X_fit", self.name, ndim=2)
        return kernel_matrix(coefs, X, Xf) @ c
