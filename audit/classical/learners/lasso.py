"""The LASSO as scikit-learn's ``Lasso`` defines it.

Objective (intercept unpenalised)::

    1/(2n) · ‖y − Xw − b‖² + alpha · ‖w‖₁

On the coordinates with ``w_j ≠ 0`` the gradient exists:
``−X_jᵀr / n + alpha · sign(w_j) = 0``, one equation each, so ``λ = alpha``.
Zero coordinates only say ``alpha ≥ |X_jᵀr| / n``: that bound is reported as
``alpha_lower_bound`` and is all an attacker gets when every weight is zero.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from audit.classical.learners._linear import LinearRegressionLearner, Rows, l1_rows
from audit.classical.learners.base import AlphaLearner

__all__ = ["LassoLearner"]


class LassoLearner(AlphaLearner, LinearRegressionLearner):
    """``sklearn.linear_model.Lasso`` (coordinate descent; single target)."""

    name = "lasso"
    library = "sklearn.linear_model.Lasso"
    estimator_defaults: ClassVar[dict[str, Any]] = {"max_iter": 100_000}
    objective = "1/(2n) ||y - Xw - b||^2 + alpha * ||w||_1 (intercept b unpenalised)"
    paper_form = "L = 1/(2n) ||y - Xw - b||^2, R = ||w||_1 on w != 0, lambda = alpha"

    def weight_rows(self, X: np.ndarray, w: np.ndarray, r: np.ndarray) -> Rows:
        b, active, bound = l1_rows(X, w, r, self.name, "alpha")
        A = np.sign(w[active])[:, None]
        return b, A, {"n_nonzero": int(active.sum()), "alpha_lower_bound": bound}
