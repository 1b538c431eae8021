"""The elastic net as scikit-learn's ``ElasticNet`` defines it: two hyperparameters.

Objective (intercept unpenalised)::

    1/(2n) · ‖y − Xw − b‖² + alpha · l1_ratio · ‖w‖₁ + ½ · alpha · (1 − l1_ratio) · ‖w‖²

On the coordinates with ``w_j ≠ 0``:
``−X_jᵀr / n + λ₁ · sign(w_j) + λ₂ · w_j = 0`` with ``λ₁ = alpha · l1_ratio`` and
``λ₂ = alpha · (1 − l1_ratio)``. Two columns, two unknowns; then
``alpha = λ₁ + λ₂`` and ``l1_ratio = λ₁ / (λ₁ + λ₂)``.
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

__all__ = ["ElasticNetLearner", "mix_to_pair", "pair_to_mix"]


def pair_to_mix(l1: float, l2: float) -> tuple[float, float]:
    """``(λ₁, λ₂) → (strength, l1_ratio)`` with strength ``= λ₁ + λ₂``."""
    total = l1 + l2
    return total, (l1 / total if total != 0 else float("nan"))


def mix_to_pair(strength: float, l1_ratio: float) -> tuple[float, float]:
    """``(strength, l1_ratio) → (λ₁, λ₂)``."""
    return strength * l1_ratio, strength * (1.0 - l1_ratio)


class ElasticNetLearner(Learner):
    """``sklearn.linear_model.ElasticNet`` (coordinate descent; single target)."""

    name = "elastic_net"
    task = "regression"
    library = "sklearn.linear_model.ElasticNet"
    objective = "1/(2n) ||y - Xw - b||^2 + alpha*l1_ratio*||w||_1 + 1/2*alpha*(1-l1_ratio)*||w||^2"
    paper_form = (
        "L = 1/(2n) ||y - Xw - b||^2, R1 = ||w||_1, R2 = 1/2 ||w||^2, "
        "lambda_l1 = alpha*l1_ratio, lambda_l2 = alpha*(1-l1_ratio)"
    )
    hyperparameters = ("alpha", "l1_ratio")
    lambda_names = ("lambda_l1", "lambda_l2")
    weight_keys = ("coef", "intercept")

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        alpha, ratio = pair_to_mix(float(lambdas[0]), float(lambdas[1]))
        return {"alpha": alpha, "l1_ratio": ratio}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array(mix_to_pair(float(hyper["alpha"]), float(hyper["l1_ratio"])))

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        X, w, r, fit_intercept = residuals(coefs, X, y, self.name)
        n = X.shape[0]
        active = w != 0
        bound = l1_lower_bound(X, r, ~active, n)
        if not np.any(active):
            raise NoEquationError(
                f"{self.name}: every weight is zero, so the weights only bound "
                f"alpha*l1_ratio >= {bound:.3g}; no equation to solve"
            )
        b = -(X[:, active].T @ r) / n
        A = np.column_stack([np.sign(w[active]), w[active]])
        if fit_intercept:
            bi, Ai = intercept_row(r, 1.0 / n, 2)
            b, A = np.concatenate([b, bi]), np.vstack([A, Ai])
        return Equation(
            b=b,
            A=A,
            extras={"n_nonzero": int(active.sum()), "lambda_l1_lower_bound": bound},
        )

    def accepts(self, estimator: Any) -> bool:
        from sklearn.linear_model import ElasticNet

        return type(estimator) is ElasticNet

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        return linear_coefficients(estimator, self.name)

    def make_estimator(
        self, hyper: Mapping[str, float], *, tol: float | None = None, random_state: int = 0
    ) -> Any:
        from sklearn.linear_model import ElasticNet

        extra = {} if tol is None else {"tol": tol}
        return ElasticNet(
            alpha=float(hyper["alpha"]),
            l1_ratio=float(hyper.get("l1_ratio", 0.5)),
            max_iter=100_000,
            **extra,
        )

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        return linear_decision(coefs, X, self.name)
