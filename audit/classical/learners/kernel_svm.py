"""Kernel SVM as scikit-learn's ``SVC`` (libsvm) defines it, two classes.

Primal objective in the dual coefficients ``β`` (``f = K β + b``, targets
``s ∈ {−1, +1}`` with ``classes_[1]`` positive, intercept unpenalised)::

    C · Σᵢ max(0, 1 − sᵢ fᵢ) + ½ βᵀ K β

Its subgradient in ``β`` is ``K (β − C Σᵢ gᵢ sᵢ eᵢ)`` with ``gᵢ = 1`` for
points inside the margin (``sᵢ fᵢ < 1``), ``gᵢ ∈ [0, 1]`` on it, ``0``
outside. Dropping the common positive-definite factor ``K`` leaves one
equation per training point: ``λ βᵢ − sᵢ = 0`` inside the margin (with
``λ = 1/C``), while the points on the margin only fix their own ``gᵢ`` (a
nuisance unknown each, so they are left out) and the others read ``0 = 0``.

In words: libsvm clips every margin violator's dual coefficient at exactly
``C``, and the released ``dual_coef_`` shows it. When no point violates the
margin (separable data, large ``C``) the weights only say ``C ≥ max|β|``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from audit.classical.learners._kernels import kernel_matrix, kernel_settings
from audit.classical.learners._rows import match_rows
from audit.classical.learners.base import (
    Coefficients,
    Equation,
    InverseCLearner,
    check_data,
    check_features,
    class_indices,
    float_array,
    optional_float,
    reject,
    require,
    resolve_classes,
    wrong_estimator,
)
from audit.errors import ModelFileError, NoEquationError, ShapeMismatchError

__all__ = ["KernelSVMLearner"]

DEFAULT_MARGIN_TOL = 1e-2
"""Points with ``|s f − 1| ≤ margin_tol`` count as on the margin (libsvm's ``tol`` is 1e-3)."""


def _sv_parts(coefs: Coefficients, learner: str) -> tuple[np.ndarray, np.ndarray, float]:
    beta = float_array(coefs, "dual_coef", learner).reshape(-1)
    sv = float_array(coefs, "support_vectors", learner, ndim=2)
    if sv.shape[0] != beta.shape[0]:
        raise ShapeMismatchError(
            f"{learner}: {beta.shape[0]} dual coefficients for {sv.shape[0]} support vectors"
        )
    b0 = optional_float(coefs, "intercept", 0.0)
    return beta, sv, b0


class KernelSVMLearner(InverseCLearner):
    """``sklearn.svm.SVC`` with two classes (any named kernel)."""

    name = "kernel_svm"
    task = "classification"
    library = "sklearn.svm.SVC"
    objective = "C * sum max(0, 1 - y f(x)) + 1/2 beta^T K beta, f = K beta + b"
    paper_form = "K-free dual stationarity: lambda * beta_i = y_i inside the margin, lambda = 1/C"
    weight_keys = ("dual_coef", "intercept")
    binary_only = True
    estimator_defaults: ClassVar[dict[str, Any]] = {"kernel": "rbf"}

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        beta, sv, b0 = _sv_parts(coefs, self.name)
        X, y = check_data(X, y, self.name, n_features=sv.shape[1])
        classes = resolve_classes(coefs, y)
        if len(classes) != 2:
            raise ShapeMismatchError(
                f"{self.name}: the audit models two-class SVC only, the data has "
                f"{len(classes)} classes"
            )
        s = np.where(class_indices(y, classes, self.name) == 1, 1.0, -1.0)
        try:
            support = np.asarray(require(coefs, "support", self.name), dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise ModelFileError(
                f"{self.name} coefficient 'support' is not a list of row numbers; "
                "export the estimator's support_ as integers"
            ) from None
        if support.shape != beta.shape or (
            support.size and (support.min() < 0 or support.max() >= X.shape[0])
        ):
            raise ShapeMismatchError(
                f"{self.name}: support indices do not fit {X.shape[0]} data rows; "
                "pass exactly the training rows, in training order"
            )
        match_rows(sv, X[support], self.name, "support vectors")
        full = np.zeros(X.shape[0])
        full[support] = beta
        margin_tol = optional_float(coefs, "margin_tol", DEFAULT_MARGIN_TOL)
        m = s * (kernel_matrix(coefs, X, sv) @ beta + b0)
        inside = m < 1.0 - margin_tol
        bound = float(np.max(np.abs(beta))) if beta.size else 0.0
        if not np.any(full[inside] != 0):
            raise NoEquationError(
                f"{self.name}: no support vector violates the margin, so the weights only "
                f"say C >= {bound:.3g}; no equation to solve"
            )
        extras = {
            "n_inside_margin": int(inside.sum()),
            "n_on_margin": int(np.sum(np.abs(m - 1.0) <= margin_tol)),
            "C_lower_bound": bound,
            "margin_tol": margin_tol,
        }
        return Equation(b=-s[inside], A=full[inside][:, None], extras=extras)

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        if len(estimator.classes_) != 2:
            raise reject(
                estimator, self.name, f"{len(estimator.classes_)} classes", "models two classes"
            )
        if estimator.class_weight is not None:
            raise reject(estimator, self.name, "class_weight", "models unweighted losses only")
        if estimator.kernel == "precomputed":
            raise reject(estimator, self.name, "a precomputed kernel", "needs a named kernel")
        return {
            "dual_coef": np.asarray(estimator.dual_coef_, dtype=np.float64).reshape(-1),
            "support": np.asarray(estimator.support_, dtype=np.int64),
            "support_vectors": np.asarray(estimator.support_vectors_, dtype=np.float64),
            "intercept": float(np.asarray(estimator.intercept_).reshape(-1)[0]),
            "classes": np.asarray(estimator.classes_),
            **kernel_settings(estimator, gamma=float(estimator._gamma)),
        }

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        beta, sv, b0 = _sv_parts(coefs, self.name)
        X = check_features(X, self.name)
        return kernel_matrix(coefs, X, sv) @ beta + b0
