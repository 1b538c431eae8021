"""Linear SVMs as scikit-learn's ``LinearSVC`` (liblinear) defines them.

Objective of each one-vs-rest problem (``classes_[1]`` positive for two
classes), with targets ``s ∈ {−1, +1}`` and margins ``mᵢ = sᵢ (xᵢ·w + b)``::

    C · Σᵢ loss(mᵢ) + R(w, b/intercept_scaling)

* ``loss="squared_hinge"`` (default): ``max(0, 1 − m)²``, differentiable.
* ``loss="hinge"``: ``max(0, 1 − m)``, whose subgradient at ``m = 1`` is any
  value in ``[−1, 0]``. Points within ``margin_tol`` of the margin get one
  *nuisance* unknown each (their subgradient weight), solved alongside ``λ``.
* ``penalty="l2"`` (default): ``R = ½‖w̃‖²``; ``penalty="l1"``: ``R = ‖w̃‖₁``
  on the non-zero coordinates.

liblinear appends a constant feature ``intercept_scaling`` and penalises its
weight ``intercept / intercept_scaling`` like any other weight, so
``w̃ = [w, b / intercept_scaling]``: the intercept's equation carries ``λ``
too. Paper form: ``Σ loss + λ R`` with ``λ = 1/C``; one-vs-rest problems share
``λ`` and are stacked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import block_diag

from audit.classical.learners._classify import (
    LinearParts,
    linear_classifier_coefficients,
    linear_classifier_decision,
    penalty_rows,
)
from audit.classical.learners.base import (
    Coefficients,
    Equation,
    InverseCLearner,
    optional_float,
    reject,
    wrong_estimator,
)
from audit.errors import NoEquationError

__all__ = ["LinearSVCHingeLearner", "LinearSVCL1Learner", "LinearSVCLearner"]

DEFAULT_MARGIN_TOL = 1e-3
"""Points with ``|m − 1| ≤ margin_tol`` count as on the margin (hinge loss)."""


def _hinge_equation(
    bs: list[np.ndarray],
    As: list[np.ndarray],
    nuisance_blocks: list[np.ndarray],
    extras: dict[str, Any],
) -> Equation:
    """Stack the one-vs-rest blocks of the hinge loss, each with its margin unknowns.

    A block in which the margin points' unknowns absorb ``λ``'s column says
    nothing about ``λ`` and is left out. When every block is like that, the
    margin points get the centre of their subdifferential (weight ½) instead.
    """
    keep = []
    for b, A, N in zip(bs, As, nuisance_blocks, strict=True):
        full = np.column_stack([A, N])
        if np.any(A) and np.linalg.matrix_rank(full) == full.shape[1]:
            keep.append((b, A, N))
    extras["n_blocks_absorbed"] = len(bs) - len(keep)
    if keep:
        b = np.concatenate([k[0] for k in keep])
        A = np.vstack([k[1] for k in keep])
        N = block_diag(*[k[2] for k in keep])
        return Equation(b=b, A=np.column_stack([A, N]), n_nuisance=N.shape[1], extras=extras)
    b = np.concatenate([b + 0.5 * N.sum(axis=1) for b, N in zip(bs, nuisance_blocks, strict=True)])
    extras["margin_fallback"] = True
    note = (
        f"{extras['n_on_margin']} points lie on the margin, too many to solve for their "
        "subgradient weights; they were given weight 1/2 and the estimate may be biased"
    )
    return Equation(b=b, A=np.vstack(As), extras=extras, notes=(note,))


class _LinearSVCLearner(InverseCLearner):
    task = "classification"
    library = "sklearn.svm.LinearSVC"
    weight_keys = ("coef", "intercept")
    loss: ClassVar[str]
    penalty: ClassVar[str]
    seeded = True

    def equation(self, coefs: Coefficients, X: np.ndarray, y: np.ndarray) -> Equation:
        m = LinearParts(coefs, X, y, self.name)
        margin_tol = optional_float(coefs, "margin_tol", DEFAULT_MARGIN_TOL)
        S = m.signs()
        M = S * m.scores
        if m.fit_intercept:
            Xa = np.column_stack([m.X, np.full(m.X.shape[0], m.scaling)])
            Wa = np.column_stack([m.W, m.b0 / m.scaling])
        else:
            Xa, Wa = m.X, m.W
        bs, As, nuisance_blocks = [], [], []
        n_violating = n_margin = 0
        for k in range(Wa.shape[0]):
            s, mk = S[:, k], M[:, k]
            if self.loss == "squared_hinge":
                grad = -2.0 * (s * np.maximum(0.0, 1.0 - mk)) @ Xa
                nuis = np.zeros((Xa.shape[1], 0))
                n_violating += int(np.sum(mk < 1.0))
            else:
                viol = mk < 1.0 - margin_tol
                on = np.abs(mk - 1.0) <= margin_tol
                grad = -(s[viol] @ Xa[viol])
                nuis = -(s[on][:, None] * Xa[on]).T
                n_violating += int(viol.sum())
                n_margin += int(on.sum())
            b, A, used = penalty_rows(grad, Wa[k], self.penalty)
            bs.append(b)
            As.append(A)
            nuisance_blocks.append(nuis[used])
        if not any(np.any(A) for A in As):
            raise NoEquationError(f"{self.name}: every weight is zero; nothing says what C is")
        extras: dict[str, Any] = {"n_margin_violations": n_violating}
        if self.loss == "squared_hinge":
            return Equation(b=np.concatenate(bs), A=np.vstack(As), extras=extras)
        extras.update({"n_on_margin": n_margin, "margin_tol": margin_tol})
        return _hinge_equation(bs, As, nuisance_blocks, extras)

    def accepts(self, estimator: Any) -> bool:
        return (
            super().accepts(estimator)
            and estimator.loss == self.loss
            and estimator.penalty == self.penalty
        )

    def coefficients(self, estimator: Any) -> dict[str, Any]:
        if not self.accepts(estimator):
            raise wrong_estimator(estimator, self.name)
        if estimator.multi_class != "ovr":
            raise reject(estimator, self.name, "multi_class='crammer_singer'", "models ovr only")
        if estimator.class_weight is not None:
            raise reject(estimator, self.name, "class_weight", "models unweighted losses only")
        return linear_classifier_coefficients(estimator, self.name, penalize_intercept=True)

    def estimator_settings(self, hyper: Mapping[str, float]) -> dict[str, Any]:
        settings = super().estimator_settings(hyper)
        return {
            **settings,
            "loss": self.loss,
            "penalty": self.penalty,
            "dual": self.loss == "hinge",
        }

    def decision(self, coefs: Coefficients, X: np.ndarray) -> np.ndarray:
        return linear_classifier_decision(coefs, X, self.name)


class LinearSVCLearner(_LinearSVCLearner):
    """``LinearSVC()``: squared hinge loss, L2 penalty (the default)."""

    name = "linear_svc"
    loss = "squared_hinge"
    penalty = "l2"
    objective = "C * sum max(0, 1 - y(Xw + b))^2 + 1/2 ||[w, b/s]||^2 (s = intercept_scaling)"
    paper_form = "L = sum squared hinge, R = 1/2 ||[w, b/s]||^2, lambda = 1/C"


class LinearSVCL1Learner(_LinearSVCLearner):
    """``LinearSVC(penalty="l1", dual=False)``: squared hinge loss, L1 penalty."""

    name = "linear_svc_l1"
    loss = "squared_hinge"
    penalty = "l1"
    objective = "C * sum max(0, 1 - y(Xw + b))^2 + ||[w, b/s]||_1 (s = intercept_scaling)"
    paper_form = "L = sum squared hinge, R = ||[w, b/s]||_1 on nonzero, lambda = 1/C"


class LinearSVCHingeLearner(_LinearSVCLearner):
    """``LinearSVC(loss="hinge")``: the standard SVM hinge loss, L2 penalty."""

    name = "linear_svc_hinge"
    loss = "hinge"
    penalty = "l2"
    objective = "C * sum max(0, 1 - y(Xw + b)) + 1/2 ||[w, b/s]||^2 (s = intercept_scaling)"
    paper_form = (
        "L = sum hinge (margin points: one nuisance unknown each), "
        "R = 1/2 ||[w, b/s]||^2, lambda = 1/C"
    )
