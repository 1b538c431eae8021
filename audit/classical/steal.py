"""Steal hyperparameters: learner + released weights + training data → estimate.

This is where the attack runs end to end: the learner builds the stationarity
equation at the weights, :func:`audit.estimator.solve_hyperparameters` solves it,
and the learner converts the paper's ``λ`` back into its library's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.classical.learners import Learner, get_learner, learner_for
from audit.classical.learners.base import Coefficients
from audit.errors import AuditOptionError
from audit.estimator import Solution, log10_error, relative_error, solve_hyperparameters

__all__ = [
    "StealResult",
    "steal_from_estimator",
    "steal_hyperparameters",
]


@dataclass(frozen=True)
class StealResult:
    """What the attacker learns from one model.

    Attributes:
        learner: Registry name of the learner.
        estimates: Estimated hyperparameters in the library's names (``alpha``, ``C``…).
        lambdas: The same in the paper's convention (``λ`` multiplying ``R``).
        solution: The least-squares solution with its diagnostics.
        extras: Learner-specific diagnostics (bounds, counts).
        notes: Plain-language caveats.
    """

    learner: str
    estimates: dict[str, float]
    lambdas: dict[str, float]
    solution: Solution
    extras: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def diagnostics(self) -> dict[str, Any]:
        """Solution diagnostics, the paper's ``λ``, learner extras and notes, JSON-friendly."""
        out: dict[str, Any] = {"lambda": dict(self.lambdas), **self.solution.diagnostics()}
        for key, value in self.extras.items():
            out[key] = _plain(value)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def relative_errors(self, true: Mapping[str, float]) -> dict[str, float]:
        """Relative error of each estimate against the true value given for it."""
        return {k: relative_error(self.estimates[k], float(v)) for k, v in true.items()}

    def log10_errors(self, true: Mapping[str, float]) -> dict[str, float]:
        """``|log10(estimate/true)|`` of each estimate given a true value."""
        return {k: log10_error(self.estimates[k], float(v)) for k, v in true.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


#: Above this relative residual the stationarity equations do not hold on the data given,
#: and the result says so in a note (a model trained on that data leaves far less).
POOR_FIT_RESIDUAL = 0.5


def steal_hyperparameters(
    learner: str | Learner, coefficients: Coefficients, X: Any, y: Any
) -> StealResult:
    """Estimate a model's hyperparameters from its weights and its training data.

    Args:
        learner: Registry name (see :data:`audit.classical.learners.LEARNERS`) or a
            :class:`Learner`.
        coefficients: The released weights and algorithm settings, as the
            learner documents them (e.g. ``{"coef": w, "intercept": b}``).
        X: Training features, shape ``(n, p)``.
        y: Training targets (labels for classifiers), shape ``(n,)``.

    Returns:
        The :class:`StealResult`.

    Raises:
        UnknownLearnerError, ShapeMismatchError, NoEquationError, NonFiniteError,
        ModelFileError: one line each, see :mod:`audit.errors`.

    Example:
        >>> import numpy as np
        >>> from sklearn.linear_model import Ridge
        >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X @ [1.0, 2.0, 3.0]
        >>> w = Ridge(alpha=2.5).fit(X, y)
        >>> res = steal_hyperparameters("ridge", {"coef": w.coef_, "intercept": w.intercept_}, X, y)
        >>> round(res.estimates["alpha"], 8)
        2.5
    """
    lrn = get_learner(learner)
    eq = lrn.equation(coefficients, X, y)
    sol = solve_hyperparameters(eq.b, eq.A, names=lrn.lambda_names, n_nuisance=eq.n_nuisance)
    notes = tuple(eq.notes)
    if sol.relative_residual > POOR_FIT_RESIDUAL:
        notes += (
            f"relative residual {sol.relative_residual:.2f}: the weights are far from a "
            "stationary point of this objective on this data (other training data, a subset "
            "of it, another target, or an unconverged fit); the estimate is unreliable",
        )
    return StealResult(
        learner=lrn.name,
        estimates=lrn.to_library(sol.values),
        lambdas=sol.as_dict(),
        solution=sol,
        extras=dict(eq.extras),
        notes=notes,
    )


def steal_from_estimator(
    estimator: Any, X: Any, y: Any, *, learner: str | Learner | None = None
) -> StealResult:
    """Estimate the hyperparameters of a fitted scikit-learn estimator (or pipeline).

    A :class:`sklearn.pipeline.Pipeline` is audited at its last step, on the
    features its earlier (fitted) steps produce.

    Args:
        estimator: The fitted estimator.
        X: Its training features (raw, before any pipeline step).
        y: Its training targets.
        learner: Force a learner; by default the one matching the estimator.
    """
    estimator, X = unwrap_pipeline(estimator, X)
    lrn = learner_for(estimator) if learner is None else get_learner(learner)
    return steal_hyperparameters(lrn, lrn.coefficients(estimator), X, y)


def final_step(estimator: Any) -> Any:
    """The last step of a pipeline, or the estimator itself."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def unwrap_pipeline(estimator: Any, X: Any) -> tuple[Any, Any]:
    """``(final step, X transformed by the earlier steps)`` for a pipeline, else as is."""
    steps = getattr(estimator, "steps", None)
    if not steps:
        return estimator, X
    for _, step in steps[:-1]:
        if step in (None, "passthrough"):
            continue
        if not hasattr(step, "transform"):
            raise AuditOptionError(
                f"pipeline step {type(step).__name__} cannot transform data; "
                "only transformers may precede the model"
            )
        names = getattr(step, "feature_names_in_", None)
        if names is not None and isinstance(X, np.ndarray) and X.shape[1:] == (len(names),):
            import pandas as pd

            X = pd.DataFrame(X, columns=list(names))
        X = step.transform(X)
    return steps[-1][1], np.asarray(X)
