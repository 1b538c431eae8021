"""Kernel logistic regression: a small reference trainer and its attack.

scikit-learn has no kernel logistic regression, so hyperseal ships one
(:class:`KernelLogisticRegression`, scikit-learn compatible) with the
objective of Wang & Gong's kernel logistic regression, in ``C`` convention::

    C · Σᵢ log(1 + exp(−sᵢ fᵢ)) + ½ βᵀ K β,    f = K β + b,  b unpenalised

with ``sᵢ = ±1`` (``classes_[1]`` positive). Its gradient in ``β`` is
``K (C g + β)`` with ``gᵢ = −sᵢ σ(−sᵢ fᵢ)``; dropping the positive-definite
factor ``K`` leaves ``gᵢ + λ βᵢ = 0`` for every training point, ``λ = 1/C``.

The trainer solves exactly those equations (and ``Σ g = 0`` for ``b``) by
damped Newton steps, stopping when ``max(|βᵢ/C + gᵢ|, |Σ g|/n) ≤ tol``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

from audit.classical.learners._kernels import dual_coef_and_data, kernel_matrix
from audit.classical.learners._rows import match_rows
from audit.classical.learners.base import (
    Coefficients,
    Equation,
    InverseCLearner,
    check_features,
    class_indices,
    float_array,
    optional_float,
    resolve_classes,
    wrong_estimator,
)
from audit.errors import ShapeMismatchError

__all__ = ["KernelLogisticLearner", "KernelLogisticRegression"]


def _newton(
    K: np.ndarray, s: np.ndarray, C: float, tol: float, max_iter: int
) -> tuple[np.ndarray, float, int, bool]:
    """Solve ``β + C g = 0``, ``Σ g = 0`` by damped Newton; return β, b, iterations, converged."""
    n = K.shape[0]
    beta, b = np.zeros(n), 0.0

    def residual(beta: np.ndarray, b: float) -> tuple[np.ndarray, np.ndarray]:
        f = K @ beta + b
        g = -s * expit(-s * f)
        return np.concatenate([beta + C * g, [g.sum()]]), f

    F, f = residual(beta, b)
    for it in range(1, max_iter + 1):
        g_scaled = np.concatenate([F[:n] / C, [F[n] / n]])
        if np.max(np.abs(g_scaled)) <= tol:
            return beta, b, it - 1, True
        p = expit(s * f)
        d = p * (1.0 - p)
        J = np.empty((n + 1, n + 1))
        J[:n, :n] = C * d[:, None] * K
        J[:n, :n][np.diag_indices(n)] += 1.0
        J[:n, n] = C * d
        J[n, :n] = d @ K
        J[n, n] = d.sum()
        step = np.linalg.solve(J, -F)
        norm0, t = float(F @ F), 1.0
        while True:
            F_new, f_new = residual(beta + t * step[:n], b + t * step[n])
            if float(F_new @ F_new) <= (1.0 - 1e-4 * t) * norm0 or t < 1e-10:
                break
            t *= 0.5
        beta, b, F, f = beta + t * step[:n], b + t * step[n], F_new, f_new
    g_scaled = np.concatenate([F[:n] / C, [F[n] / n]])
    return beta, b, max_iter, bool(np.max(np.abs(g_scaled)) <= tol)


class KernelLogisticRegression(ClassifierMixin, BaseEstimator):
    """Two-class kernel logistic regression (a scikit-learn estimator).

    Args:
        C: Inverse regularisation strength, as in ``LogisticRegression``.
        kernel: A kernel name understood by ``sklearn.metrics.pairwise_kernels``.
        gamma: Kernel coefficient (``None``: ``1 / n_features``).
        degree: Degree of the polynomial kernel.
        coef0: Constant of the polynomial and sigmoid kernels.
        tol: Stop when every scaled stationarity residual is at most ``tol``.
        max_iter: Most Newton steps.

    Attributes (after ``fit``): ``dual_coef_``, ``intercept_``, ``X_fit_``,
    ``classes_``, ``n_iter_``, ``converged_``.
    """

    def __init__(
        self,
        C: float = 1.0,
        kernel: str = "rbf",
        gamma: float | None = None,
        degree: float = 3,
        coef0: float = 1,
        tol: float = 1e-8,
        max_iter: int = 100,
    ) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.tol = tol
        self.max_iter = max_iter

    def _settings(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "gamma": self.gamma,
            "degree": float(self.degree),
            "coef0": float(self.coef0),
        }

    def fit(self, X: Any, y: Any) -> KernelLogisticRegression:
        """Fit on two-class data."""
        X = check_features(X, "kernel_logistic")
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ShapeMismatchError(
                f"kernel_logistic: two classes needed, got {len(self.classes_)}"
            )
        s = np.where(y == self.classes_[1], 1.0, -1.0)
        K = kernel_matrix(self._settings(), X, X)
        beta, b, n_iter, ok = _newton(K, s, float(self.C), float(self.tol), int(self.max_iter))
        self.dual_coef_, self.intercept_ = beta, b
        self.X_fit_, self.n_iter_, self.converged_ = X, n_iter, ok
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """``K(X, X_fit) β + b``; positive means ``classes_[1]``."""
        X = check_features(X, "kernel_logistic")
        return kernel_matrix(self._settings(), X, self.X_fit_) @ self.dual_coef_ + self.intercept_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class KernelLogisticLearner(InverseCLearner):
    """:class:`KernelLogisticRegression` (two classes, any named kernel)."""

    name = "kernel_logistic"
    task = "classification"
    library = "audit.classical.learners.kernel_logistic.KernelLogisticRegression"
    objective = "C * sum log(1 + exp(-y f(x))) + 1/2 beta^T K beta, f = K beta + b"
    paper_form = "K-free stationarity: g_i + lambda * beta_i = 0 for every point, lambda = 1/C"
    weight_keys = ("dual_coef", "intercept")
    binary_only = True

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        beta, X, y = dual_coef_and_data(coefs, X, y, self.name)
        if coefs.get("X_fit") is not None:
            match_rows(float_array(coefs, "X_fit", self.name, ndim=2), X, self.name, "X_fit")
        classes = resolve_classes(coefs, y)
        if len(classes) != 2:
            raise ShapeMismatchError(
                f"{self.name}: two classes needed, the data has {len(classes)}"
            )
        s = np.where(class_indices(y, classes, self.name) == 1, 1.0, -1.0)
        f = kernel_matrix(coefs, X, X) @ beta + optional_float(coefs, "intercept", 0.0)
        g = -s * expit(-s * f)
        b = np.concatenate([g, [g.sum()]])
        A = np.concatenate([beta, [0.0]])[:, None]
        return Equation(b=b, A=A)

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        return {
            "dual_coef": np.asarray(estimator.dual_coef_, dtype=np.float64),
            "intercept": float(estimator.intercept_),
            "X_fit": np.asarray(estimator.X_fit_, dtype=np.float64),
            "classes": np.asarray(estimator.classes_),
            **estimator._settings(),
        }

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        beta = float_array(coefs, "dual_coef", self.name, ndim=1)
        Xf = float_array(coefs, "X_fit", self.name, ndim=2)
        X = check_features(X, self.name)
        return kernel_matrix(coefs, X, Xf) @ beta + optional_float(coefs, "intercept", 0.0)
