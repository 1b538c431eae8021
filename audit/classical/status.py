"""Whether an estimate of the reproduction counts: a row's status and the one rule that sets it.

The attack always returns a number once its equation can be solved, but a
number is not always a measurement of leakage. :func:`judge_estimate` looks
at one attacked model (all its hyperparameters together, since they come from
one solve) and gives it one status:

``ok``
    Counted: it enters every median the CLI, the reports and the docs quote.
``no_equation`` / ``failed``
    The attack had nothing to solve, or refused (no estimate at all).
``out_of_range``
    An estimate lies outside its hyperparameter's valid range
    (:data:`VALID_RANGES`: ``C`` and ``alpha`` > 0, ``0 ≤ l1_ratio ≤ 1``),
    or is not a finite number. No library accepts it as a setting.
``collapsed``
    The released model predicts no better than a constant does: a
    classifier that gives every test row the same class or whose test
    accuracy is at most the best constant predictor's (the test set's
    majority-class share); a regressor whose test predictions vary by less
    than :data:`CONSTANT_SPREAD` of the target's standard deviation. Nobody
    releases such a model, so its estimate says nothing about leakage.
``not_identifiable``
    The weights do not pin the hyperparameter down: the relative residual
    ``‖b + A λ̂‖ / ‖b‖`` is at least :data:`IDENTIFIABLE_RESIDUAL`
    (``√0.9``: the regulariser's gradient accounts for under 10 % of the
    squared loss gradient), or a model of the same series trained with a
    different true value gave the same estimate (the weights did not move
    with the hyperparameter).
``not_converged``
    The solver stopped without converging (scikit-learn's
    ``ConvergenceWarning``, raised when the iterations reach ``max_iter``, or
    a false ``converged_`` flag): the weights are not at the stationary point
    the attack assumes.

When several apply, the first in :data:`PRECEDENCE` is the status and the
reason lists them all. The estimate stays in the row either way, so that a
reader sees what the attack made of the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CONSTANT_SPREAD",
    "IDENTIFIABLE_RESIDUAL",
    "PRECEDENCE",
    "STATUSES",
    "VALID_RANGES",
    "Judgement",
    "judge_estimate",
    "prediction_facts",
    "valid_range_text",
]

STATUSES: dict[str, str] = {
    "ok": "counted in the medians: an estimate none of the rules below applies to",
    "no_equation": "the weights carry no equation (e.g. every weight zero); no estimate",
    "failed": "the attack refused the model (its message says why); no estimate",
    "out_of_range": "an estimate outside its hyperparameter's valid range "
    "(C, alpha > 0; 0 <= l1_ratio <= 1) or not finite",
    "collapsed": "the model predicts no better than a constant (test accuracy at most the "
    "majority-class share, one class for every row, or near-constant regression output)",
    "not_identifiable": "relative residual >= 0.95 (the regulariser explains under 10% of the "
    "squared loss gradient), or another true value gave the same estimate",
    "not_converged": "the solver did not converge (ConvergenceWarning: max_iter reached)",
}
"""Every status a row of the reproduction tables can carry, and what it means."""

PRECEDENCE: tuple[str, ...] = ("out_of_range", "collapsed", "not_identifiable", "not_converged")
"""Order in which the rules name a row's status when several apply."""

VALID_RANGES: dict[str, tuple[float, float, bool]] = {
    "alpha": (0.0, math.inf, False),
    "C": (0.0, math.inf, False),
    "l1_ratio": (0.0, 1.0, True),
}
"""``name → (low, high, low included)``; ``high`` is included when finite."""

IDENTIFIABLE_RESIDUAL = math.sqrt(0.9)
"""At or above this relative residual the equation explains under 10 % of ``‖b‖²``."""

CONSTANT_SPREAD = 1e-3
"""A regressor whose test predictions' standard deviation is below this share of the
target's standard deviation predicts a constant."""


@dataclass(frozen=True)
class Judgement:
    """The status of one attacked model and why.

    Attributes:
        status: One of :data:`STATUSES`.
        reason: The reasons joined into one line (empty when ``ok``).
        reasons: Each rule that applied, in :data:`PRECEDENCE` order.
    """

    status: str
    reason: str = ""
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the row counts in the medians."""
        return self.status == "ok"


def valid_range_text(name: str) -> str:
    """The valid range of hyperparameter ``name`` as text, e.g. ``C > 0``."""
    low, high, closed = VALID_RANGES.get(name, (-math.inf, math.inf, True))
    if math.isinf(high):
        return f"{name} {'>=' if closed else '>'} {low:g}"
    return f"{low:g} {'<=' if closed else '<'} {name} <= {high:g}"


def _in_range(name: str, value: float) -> bool:
    if not math.isfinite(value):
        return False
    low, high, closed = VALID_RANGES.get(name, (-math.inf, math.inf, True))
    above = value >= low if closed else value > low
    return above and value <= high


def judge_estimate(
    estimates: Mapping[str, float],
    *,
    relative_residual: float,
    converged: bool = True,
    test_score: float | None = None,
    chance_score: float | None = None,
    constant_predictions: bool = False,
    same_estimate_as: str | None = None,
) -> Judgement:
    """The status of one attacked model from what is known about it.

    Args:
        estimates: The attack's estimates in the library's names (all of one model).
        relative_residual: ``‖b + A λ̂‖ / ‖b‖`` of the solve.
        converged: Whether the training solver converged.
        test_score: The released model's test score (accuracy or R²), if measured.
        chance_score: The best constant predictor's test score on the same rows
            (classification: the majority-class share); ``None`` where no
            such floor applies (regression, whose R² can fall below 0 by overfitting).
        constant_predictions: Whether the model gives every test row the same output.
        same_estimate_as: Set when a model of the same series trained with another
            true value gave the same estimate: that value, as text (``"C = 100"``).

    Returns:
        The :class:`Judgement`; ``ok`` when no rule applies.
    """
    found: dict[str, str] = {}
    outside = [
        f"{name} = {value:.4g} is outside {valid_range_text(name)}"
        for name, value in estimates.items()
        if not _in_range(name, float(value))
    ]
    if outside:
        found["out_of_range"] = "estimate out of range: " + ", ".join(outside)
    if constant_predictions:
        score = (
            f" (test score {test_score:.3f})"
            if test_score is not None and math.isfinite(test_score)
            else ""
        )
        found["collapsed"] = f"model collapsed: the same output for every test row{score}"
    elif (
        chance_score is not None
        and test_score is not None
        and math.isfinite(test_score)
        and test_score <= chance_score + 1e-12
    ):
        found["collapsed"] = (
            f"model collapsed: test score {test_score:.3f} is no better than a constant "
            f"predictor's {chance_score:.3f}"
        )
    unidentifiable = []
    if not math.isfinite(relative_residual) or relative_residual >= IDENTIFIABLE_RESIDUAL:
        unidentifiable.append(
            f"relative residual {relative_residual:.3g} >= {IDENTIFIABLE_RESIDUAL:.3g} "
            "(the regulariser explains under 10% of the loss gradient)"
        )
    if same_estimate_as is not None:
        unidentifiable.append(
            f"the model trained with {same_estimate_as} gave the same estimate "
            "(the weights do not move with the hyperparameter)"
        )
    if unidentifiable:
        found["not_identifiable"] = "not identifiable: " + "; ".join(unidentifiable)
    if not converged:
        found["not_converged"] = "not converged: the solver stopped before convergence"
    reasons = tuple(found[s] for s in PRECEDENCE if s in found)
    if not reasons:
        return Judgement("ok")
    status = next(s for s in PRECEDENCE if s in found)
    return Judgement(status, "; ".join(reasons), reasons)


def prediction_facts(
    learner: Any, coefs: Mapping[str, Any], X_test: np.ndarray, y_test: np.ndarray
) -> dict[str, Any]:
    """``test_score``, ``chance_score`` and ``constant_predictions`` of a model on test rows.

    ``learner`` is an :class:`audit.classical.learners.Learner`; ``coefs`` its coefficients.
    """
    pred = learner.predict(coefs, X_test)
    y = np.asarray(y_test)
    score = learner.score(coefs, X_test, y)
    if learner.task == "regression":
        spread = float(np.std(pred))
        scale = float(np.std(y)) or 1.0
        return {
            "test_score": score,
            "chance_score": None,
            "constant_predictions": spread < CONSTANT_SPREAD * scale,
        }
    _, counts = np.unique(y, return_counts=True)
    return {
        "test_score": score,
        "chance_score": float(counts.max() / counts.sum()) if counts.size else None,
        "constant_predictions": len(np.unique(pred)) <= 1 and len(y) > 1,
    }
