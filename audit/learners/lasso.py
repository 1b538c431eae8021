"""The LASSO as scikit-learn's ``Lasso`` defines it.

Objective (intercept unpenalised)::

    1/(2n) · ‖y − Xw − b‖² + alpha · ‖w‖₁

On the coordinates with ``w_j ≠ 0`` the gradient exists:
``−X_jᵀr / n + alpha · sign(w_j) = 0``, one equation each, so ``λ = alpha``.
Zero coordinates only say ``alpha ≥ |X_jᵀr| / n``: that bound is reported as
``alpha_lower_bound`` and is all an attacker gets when every weight is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audit.errors import NoEquationError
from audit.learners._linear import (
    intercept_row,
    l1_lower_bound,
    linear_coefficients,
    linear_decision,
    residuals,
)
from audit.learners.base import Coefficients, Equation, Learner, wrong_estimator

__all__ = ["LassoLearner"]


class LassoLearner(Learner):
    """``sklearn.linear_model.Lasso`` (coordinate descent; single target)."""

    name = "lasso"
    task = "regression"
    library = "sklearn.linear_model.Lasso"
    objective = "1/(2n) ||y - Xw - b||^2 + alpha * ||w||_1 (intercept b unpenalised)"
    paper_form = "L = 1/(2n) ||y - Xw - b||^2, R = ||w||_1 on w != 0, lambda = alpha"
    hyperparameters = ("alpha",)
    weight_keys = ("coef", "intercept")

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        return {"alpha": float(lambdas[0])}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array([float(hyper["alpha"])])

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        X, w, r, fit_intercept = residuals(coefs, X, y, self.name)
        n = X.shape[0]
        active = w != 0
        bound = l1_lower_bound(X, r, ~active, n)
        if not np.any(active):
            raise NoEquationError(
                f"{self.name}: every weight is zero, so the weights only bound alpha >= "
                f"{bound:.3g}; no equation to solve"
            )
        b = -(X[:, active].T @ r) / n
        A = np.sign(w[active])[:, None]
        if fit_intercept:
            bi, Ai = intercept_row(r, 1.0 / n, 1)
            b, A = np.concatenate([b, bi]), np.vstack([A, Ai])
        return Equation(
            b=b,
            A=A,
            extras={"n_nonzero": int(active.sum()), "alpha_lower_bound": bound},
        )

    def accepts(self, estimator: Any) -> bool:
        from sklearn.linear_model import Lasso

        return type(estimator) is Lasso

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        return linear_coefficients(estimator, self.name)

    def make_estimator(
        self, hyper: Mapping[str, float], *, tol: float | None = None, random_state: int = 0
    ) -> Any:
        from sklearn.linear_model import Lasso

        extra = {} if tol is None else {"tol": tol}
        return Lasso(alpha=float(hyper["alpha"]), max_iter=100_000, **extra)

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        return linear_decision(coefs, X, self.name)
