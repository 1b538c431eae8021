"""Ridge regression as scikit-learn's ``Ridge`` defines it.

Objective (intercept unpenalised, no ``1/n``)::

    ‖y − Xw − b‖² + alpha · ‖w‖²

Gradient in ``w`` (halved): ``−Xᵀr + alpha · w = 0`` with ``r = y − Xw − b``,
so ``λ = alpha`` with ``L = ½‖r‖²`` and ``R = ½‖w‖²``. The intercept's
equation ``Σr = 0`` holds no hyperparameter; it is kept as a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audit.learners._linear import intercept_row, linear_coefficients, linear_decision, residuals
from audit.learners.base import Coefficients, Equation, Learner, wrong_estimator

__all__ = ["RidgeLearner"]


class RidgeLearner(Learner):
    """``sklearn.linear_model.Ridge`` (any solver; single target)."""

    name = "ridge"
    task = "regression"
    library = "sklearn.linear_model.Ridge"
    objective = "||y - Xw - b||^2 + alpha * ||w||^2 (intercept b unpenalised)"
    paper_form = "L = 1/2 ||y - Xw - b||^2, R = 1/2 ||w||^2, lambda = alpha"
    hyperparameters = ("alpha",)
    weight_keys = ("coef", "intercept")
    iterative = False

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        return {"alpha": float(lambdas[0])}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array([float(hyper["alpha"])])

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        X, w, r, fit_intercept = residuals(coefs, X, y, self.name)
        b, A = -(X.T @ r), w[:, None]
        if fit_intercept:
            bi, Ai = intercept_row(r, 1.0, 1)
            b, A = np.concatenate([b, bi]), np.vstack([A, Ai])
        return Equation(b=b, A=A)

    def accepts(self, estimator: Any) -> bool:
        from sklearn.linear_model import Ridge

        return type(estimator) is Ridge

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        return linear_coefficients(estimator, self.name)

    def make_estimator(
        self, hyper: Mapping[str, float], *, tol: float | None = None, random_state: int = 0
    ) -> Any:
        from sklearn.linear_model import Ridge

        extra = {} if tol is None else {"tol": tol}
        return Ridge(alpha=float(hyper["alpha"]), **extra)

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        return linear_decision(coefs, X, self.name)
