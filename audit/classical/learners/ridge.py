"""Ridge regression as scikit-learn's ``Ridge`` defines it.

Objective (intercept unpenalised, no ``1/n``)::

    ‖y − Xw − b‖² + alpha · ‖w‖²

Gradient in ``w`` (halved): ``−Xᵀr + alpha · w = 0`` with ``r = y − Xw − b``,
so ``λ = alpha`` with ``L = ½‖r‖²`` and ``R = ½‖w‖²``. The intercept's
equation ``Σr = 0`` holds no hyperparameter; it is kept as a check.
"""

from __future__ import annotations

import numpy as np

from audit.classical.learners._linear import LinearRegressionLearner, Rows
from audit.classical.learners.base import AlphaLearner

__all__ = ["RidgeLearner"]


class RidgeLearner(AlphaLearner, LinearRegressionLearner):
    """``sklearn.linear_model.Ridge`` (any solver; single target)."""

    name = "ridge"
    library = "sklearn.linear_model.Ridge"
    objective = "||y - Xw - b||^2 + alpha * ||w||^2 (intercept b unpenalised)"
    paper_form = "L = 1/2 ||y - Xw - b||^2, R = 1/2 ||w||^2, lambda = alpha"
    iterative = False

    def weight_rows(self, X: np.ndarray, w: np.ndarray, r: np.ndarray) -> Rows:
        return -(X.T @ r), w[:, None], {}

    def intercept_scale(self, n: int) -> float:
        return 1.0  # Ridge's loss is a sum, not a mean
