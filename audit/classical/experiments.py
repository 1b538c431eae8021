"""One trial of the paper's experiments: train a learner, steal, score.

Shared by :mod:`audit.classical.reproduction` and :mod:`audit.classical.tsr`; plain data in, plain
records out.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.classical.learners import Learner, get_learner
from audit.classical.status import judge_estimate, prediction_facts
from audit.classical.steal import StealResult, steal_hyperparameters
from audit.errors import AuditError, NoEquationError
from audit.estimator import log10_error, relative_error

__all__ = ["Trial", "fit_quietly", "steal_safely", "train_and_steal"]


@dataclass
class Trial:
    """A trained model, what the attack made of it, and what it cost."""

    learner: Learner
    hyper: dict[str, float]
    coefs: dict[str, Any]
    converged: bool
    train_seconds: float
    result: StealResult | None = None
    status: str = "ok"
    message: str = ""
    steal_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def judge(
        self, X_test: np.ndarray, y_test: np.ndarray, *, same_estimate_as: str | None = None
    ) -> None:
        """Score the model on test rows and give a solved trial its status (:mod:`.status`).

        Sets ``test_score`` and ``chance_score`` in :attr:`extra`; a trial the
        attack could not solve keeps its ``no_equation``/``failed`` status.
        """
        facts = prediction_facts(self.learner, self.coefs, X_test, y_test)
        chance = facts["chance_score"]
        self.extra.update(
            test_score=facts["test_score"],
            chance_score=float("nan") if chance is None else chance,
        )
        if self.result is None:
            return
        verdict = judge_estimate(
            self.result.estimates,
            relative_residual=self.result.solution.relative_residual,
            converged=self.converged,
            same_estimate_as=same_estimate_as,
            **facts,
        )
        self.status, self.message = verdict.status, verdict.reason

    def rows(self, base: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One record per hyperparameter: truth, estimate, errors and diagnostics."""
        out = []
        for name in self.learner.hyperparameters:
            true = float(self.hyper[name])
            est = self.result.estimates[name] if self.result is not None else float("nan")
            row = {
                **base,
                "hyperparameter": name,
                "true_value": true,
                "estimate": est,
                "relative_error": relative_error(est, true) if self.result else float("nan"),
                "log10_error": log10_error(est, true) if self.result else float("nan"),
                "status": self.status,
                "message": self.message,
                "converged": self.converged,
                "train_seconds": self.train_seconds,
                "steal_seconds": self.steal_seconds,
            }
            if self.result is not None:
                sol = self.result.solution
                row.update(
                    residual_norm=sol.residual_norm,
                    relative_residual=sol.relative_residual,
                    condition_number=sol.condition_number,
                    n_equations=sol.n_equations,
                )
            else:
                row.update(
                    residual_norm=np.nan,
                    relative_residual=np.nan,
                    condition_number=np.nan,
                    n_equations=0,
                )
            row.update(self.extra)
            out.append(row)
        return out


def fit_quietly(estimator: Any, X: np.ndarray, y: np.ndarray) -> tuple[Any, bool, float]:
    """Fit without printing warnings; return the estimator, convergence and seconds."""
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y)
    seconds = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    converged = converged and bool(getattr(estimator, "converged_", True))
    return estimator, converged, seconds


def steal_safely(
    learner: Learner, coefs: Mapping[str, Any], X: np.ndarray, y: np.ndarray
) -> tuple[StealResult | None, str, str, float]:
    """Run the attack, turning an audit error into a status instead of raising."""
    start = time.perf_counter()
    try:
        result = steal_hyperparameters(learner, coefs, X, y)
        status, message = "ok", ""
    except NoEquationError as exc:
        result, status, message = None, "no_equation", str(exc)
    except AuditError as exc:
        result, status, message = None, "failed", str(exc)
    return result, status, message, time.perf_counter() - start


def train_and_steal(
    learner: str | Learner,
    hyper: Mapping[str, float],
    X: np.ndarray,
    y: np.ndarray,
    *,
    tol: float | None = None,
    seed: int = 0,
) -> Trial:
    """Train ``learner`` with ``hyper`` on ``(X, y)`` and run the attack on the result."""
    lrn = get_learner(learner)
    est, converged, seconds = fit_quietly(
        lrn.make_estimator(hyper, tol=tol, random_state=seed), X, y
    )
    coefs = lrn.coefficients(est)
    trial = Trial(lrn, dict(hyper), coefs, converged, seconds)
    trial.result, trial.status, trial.message, trial.steal_seconds = steal_safely(lrn, coefs, X, y)
    return trial
