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
from typing import Any, ClassVar

import numpy as np

from audit.classical.learners._linear import LinearRegressionLearner, Rows, l1_rows
from audit.classical.learners.base import Learner

__all__ = ["ElasticNetLearner", "ElasticNetMix", "mix_to_pair", "pair_to_mix"]


def pair_to_mix(l1: float, l2: float) -> tuple[float, float]:
    """``(λ₁, λ₂) → (strength, l1_ratio)`` with strength ``= λ₁ + λ₂``."""
    total = l1 + l2
    return total, (l1 / total if total != 0 else float("nan"))


def mix_to_pair(strength: float, l1_ratio: float) -> tuple[float, float]:
    """``(strength, l1_ratio) → (λ₁, λ₂)``."""
    return strength * l1_ratio, strength * (1.0 - l1_ratio)


class ElasticNetMix(Learner):
    """Two strengths, ``λ₁`` (L1) and ``λ₂`` (L2), set as a total and ``l1_ratio`` (default ½)."""

    lambda_names = ("lambda_l1", "lambda_l2")
    hyperparameter_defaults: ClassVar[dict[str, float]] = {"l1_ratio": 0.5}


class ElasticNetLearner(ElasticNetMix, LinearRegressionLearner):
    """``sklearn.linear_model.ElasticNet`` (coordinate descent; single target)."""

    name = "elastic_net"
    library = "sklearn.linear_model.ElasticNet"
    objective = "1/(2n) ||y - Xw - b||^2 + alpha*l1_ratio*||w||_1 + 1/2*alpha*(1-l1_ratio)*||w||^2"
    paper_form = (
        "L = 1/(2n) ||y - Xw - b||^2, R1 = ||w||_1, R2 = 1/2 ||w||^2, "
        "lambda_l1 = alpha*l1_ratio, lambda_l2 = alpha*(1-l1_ratio)"
    )
    hyperparameters = ("alpha", "l1_ratio")
    estimator_defaults: ClassVar[dict[str, Any]] = {"max_iter": 100_000}

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        alpha, ratio = pair_to_mix(float(lambdas[0]), float(lambdas[1]))
        return {"alpha": alpha, "l1_ratio": ratio}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        return np.array(mix_to_pair(float(hyper["alpha"]), float(hyper["l1_ratio"])))

    def weight_rows(self, X: np.ndarray, w: np.ndarray, r: np.ndarray) -> Rows:
        b, active, bound = l1_rows(X, w, r, self.name, "alpha*l1_ratio")
        A = np.column_stack([np.sign(w[active]), w[active]])
        return b, A, {"n_nonzero": int(active.sum()), "lambda_l1_lower_bound": bound}
