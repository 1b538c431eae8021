"""Logistic regression as scikit-learn's ``LogisticRegression`` defines it.

Objective, for ``l1_ratio = 0`` (L2, the default), ``1`` (L1) and in between
(elastic net)::

    C · Σᵢ logloss(yᵢ, xᵢ·w + b) + l1_ratio · ‖w‖₁ + ½ · (1 − l1_ratio) · ‖w‖²

Two classes: one weight vector, the binomial loss with ``classes_[1]``
positive. More classes: the multinomial (softmax) loss with one weight vector
per class, all penalised. Dividing by ``C`` gives the paper's form
``Σ logloss + λ R`` with ``λ = 1/C`` (elastic net: ``λ₁ = l1_ratio/C``,
``λ₂ = (1 − l1_ratio)/C``).

The intercept is not penalised by lbfgs, newton-cg, newton-cholesky, sag and
saga. liblinear appends a constant feature ``intercept_scaling`` and penalises
its weight ``intercept / intercept_scaling`` like any other: that equation is
then part of the attack.

scikit-learn 1.8 deprecated ``penalty`` in favour of ``l1_ratio`` (and
``C=inf`` for no penalty); both spellings are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, softmax

from audit.classical.learners._classify import (
    LinearParts,
    linear_classifier_coefficients,
    linear_classifier_decision,
    penalty_rows,
)
from audit.classical.learners.base import Coefficients, Equation, Learner, reject, wrong_estimator
from audit.classical.learners.elastic_net import ElasticNetMix, mix_to_pair, pair_to_mix
from audit.errors import NoEquationError

__all__ = [
    "LogisticElasticNetLearner",
    "LogisticL1Learner",
    "LogisticL2Learner",
    "logistic_penalty",
]


def logistic_penalty(estimator: Any) -> str:
    """The penalty a ``LogisticRegression`` trains with: l2, l1, elasticnet or none."""
    penalty = getattr(estimator, "penalty", "deprecated")
    if penalty != "deprecated":
        return "none" if penalty is None else str(penalty)
    if np.isinf(estimator.C):
        return "none"
    ratio = estimator.l1_ratio
    if ratio is None or ratio == 0:
        return "l2"
    return "l1" if ratio == 1 else "elasticnet"


class _LogisticLearner(Learner):
    task = "classification"
    library = "sklearn.linear_model.LogisticRegression"
    weight_keys = ("coef", "intercept")
    hyperparameters = ("C",)
    penalty: ClassVar[str]

    def to_library(self, lambdas: np.ndarray) -> dict[str, float]:
        if self.penalty == "elasticnet":
            total, ratio = pair_to_mix(float(lambdas[0]), float(lambdas[1]))
            return {"C": 1.0 / total, "l1_ratio": ratio}
        return {"C": 1.0 / float(lambdas[0])}

    def to_lambdas(self, hyper: Mapping[str, float]) -> np.ndarray:
        inv = 1.0 / float(hyper["C"])
        if self.penalty == "elasticnet":
            return np.array(mix_to_pair(inv, float(hyper["l1_ratio"])))
        return np.array([inv])

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        m = LinearParts(coefs, X, y, self.name)
        Z = m.scores
        if m.W.shape[0] == 1:
            G = (expit(Z[:, 0]) - (m.idx == 1))[:, None]
        else:
            G = softmax(Z, axis=1)
            G[np.arange(len(m.idx)), m.idx] -= 1.0
        grad_w = G.T @ m.X  # gradient of Σ logloss, shape (k, p)
        grad_b = G.sum(axis=0)
        b, A, used = penalty_rows(grad_w, m.W, self.penalty)
        n_cols = A.shape[1]
        bound_rows = [np.abs(grad_w.ravel()[~used])]
        if m.fit_intercept:
            if m.penalize_intercept:
                wb = m.b0 / m.scaling
                bi, Ai, used_b = penalty_rows(m.scaling * grad_b, wb, self.penalty)
                bound_rows.append(np.abs(m.scaling * grad_b[~used_b]))
            else:
                bi, Ai = grad_b, np.zeros((len(grad_b), n_cols))
            b, A = np.concatenate([b, bi]), np.vstack([A, Ai])
        extras: dict[str, Any] = {"n_classes": len(m.classes)}
        if self.penalty != "l2":
            extras["n_nonzero"] = int(np.count_nonzero(m.W))
            zero_grads = np.concatenate(bound_rows)
            # |∂L/∂w_j| <= λ₁ at zero coordinates: an upper bound on C (L1) or C/l1_ratio.
            extras["lambda_l1_lower_bound"] = float(zero_grads.max()) if zero_grads.size else None
        if not np.any(A[:, : len(self.lambda_names)]):
            raise NoEquationError(
                f"{self.name}: every weight is zero; the weights say nothing about C"
            )
        return Equation(b=b, A=A, extras=extras)

    def accepts(self, estimator: Any) -> bool:
        return super().accepts(estimator) and logistic_penalty(estimator) == self.penalty

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        if estimator.class_weight is not None:
            raise reject(
                estimator, self.name, "class_weight", "models unweighted losses only; refit"
            )
        return linear_classifier_coefficients(
            estimator, self.name, penalize_intercept=estimator.solver == "liblinear"
        )

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        return linear_classifier_decision(coefs, X, self.name)


class LogisticL2Learner(_LogisticLearner):
    """``LogisticRegression(l1_ratio=0)``: L2 penalty, any solver."""

    name = "logistic_l2"
    penalty = "l2"
    estimator_defaults: ClassVar[dict[str, Any]] = {"l1_ratio": 0.0, "max_iter": 1_000}
    objective = "C * sum logloss(y, Xw + b) + 1/2 ||w||^2"
    paper_form = "L = sum logloss, R = 1/2 ||w||^2, lambda = 1/C"


class LogisticL1Learner(_LogisticLearner):
    """``LogisticRegression(l1_ratio=1)``: L1 penalty (liblinear or saga)."""

    name = "logistic_l1"
    penalty = "l1"
    estimator_defaults: ClassVar[dict[str, Any]] = {"l1_ratio": 1.0, "solver": "liblinear"}
    seeded = True
    objective = "C * sum logloss(y, Xw + b) + ||w||_1"
    paper_form = "L = sum logloss, R = ||w||_1 on w != 0, lambda = 1/C"


class LogisticElasticNetLearner(ElasticNetMix, _LogisticLearner):
    """``LogisticRegression(0 < l1_ratio < 1, solver="saga")``: two hyperparameters."""

    name = "logistic_elasticnet"
    penalty = "elasticnet"
    objective = "C * sum logloss + l1_ratio ||w||_1 + 1/2 (1 - l1_ratio) ||w||^2"
    paper_form = (
        "L = sum logloss, R1 = ||w||_1, R2 = 1/2 ||w||^2, "
        "lambda_l1 = l1_ratio/C, lambda_l2 = (1-l1_ratio)/C"
    )
    hyperparameters = ("C", "l1_ratio")
    estimator_defaults: ClassVar[dict[str, Any]] = {"solver": "saga", "max_iter": 10_000}
    seeded = True
