"""Train-Steal-Retrain (Wang & Gong, Section 6): tune on a fraction, steal, retrain on all.

The paper's cost-saving use of the attack: instead of tuning the
hyperparameter by cross-validation on all the training data (expensive),
tune on a small fraction, steal the chosen value back from the model trained
on that fraction, and retrain once on all the data with it. The table compares
time and test score with tuning on all the data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.classical.datasets import Dataset
from audit.classical.experiments import fit_quietly, steal_safely
from audit.classical.learners import Learner
from audit.classical.status import judge_estimate, prediction_facts
from audit.estimator import relative_error

__all__ = ["train_steal_retrain"]


def _grid_search(
    learner: Learner,
    base: dict[str, float],
    name: str,
    grid: Sequence[float],
    X: np.ndarray,
    y: np.ndarray,
    cv: int,
    seed: int,
) -> tuple[float, Any, float]:
    """Cross-validated choice of ``name`` over ``grid``: (best value, refit model, seconds)."""
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        learner.make_estimator(base, random_state=seed),
        {name: list(grid)},
        cv=cv,
        refit=True,
    )
    search, _, seconds = fit_quietly(search, X, y)
    return float(search.best_params_[name]), search.best_estimator_, seconds


def train_steal_retrain(
    learner: Learner,
    data: Dataset,
    *,
    reference: dict[str, float],
    fractions: Sequence[float],
    grid: Sequence[float],
    cv: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Compare tuning on all the data with Train-Steal-Retrain at several fractions.

    Args:
        learner: A single-hyperparameter learner.
        data: The train/test split.
        reference: Hyperparameters of the base estimator (the grid varies the first).
        fractions: Fractions of the training rows used for tuning.
        grid: Candidate values of the tuned hyperparameter.
        cv: Cross-validation folds.
        seed: Seed of the subsamples.

    Returns:
        One record per fraction (columns documented in
        :data:`audit.classical.reproduction.COLUMNS`).
    """
    name = learner.hyperparameters[0]
    best_all, model_all, seconds_all = _grid_search(
        learner, reference, name, grid, data.X_train, data.y_train, cv, seed
    )
    score_all = learner.score(learner.coefficients(model_all), data.X_test, data.y_test)
    rng = np.random.default_rng(seed)
    rows = []
    n = len(data.y_train)
    for fraction in fractions:
        idx = _subsample(data, fraction, rng, cv)
        X_f, y_f = data.X_train[idx], data.y_train[idx]
        best_f, model_f, seconds_tune = _grid_search(
            learner, reference, name, grid, X_f, y_f, cv, seed
        )
        stolen, status, message, seconds_steal = _steal(learner, model_f, X_f, y_f, data)
        row: dict[str, Any] = {
            "learner": learner.name,
            "dataset": data.name,
            "hyperparameter": name,
            "fraction": float(len(idx) / n),
            "value_tuned_all": best_all,
            "value_tuned_fraction": best_f,
            "value_stolen": stolen if stolen is not None else float("nan"),
            "steal_relative_error": (
                relative_error(stolen, best_f) if stolen is not None else float("nan")
            ),
            "status": status,
            "message": message,
            "seconds_tune_all": seconds_all,
            "seconds_tune_fraction": seconds_tune,
            "seconds_steal": seconds_steal,
            "test_metric": learner.metric,
            "score_tune_all": score_all,
        }
        seconds_retrain, score_tsr = _retrain(learner, reference, stolen, data, seed)
        seconds_tsr = seconds_tune + seconds_steal + seconds_retrain
        row.update(
            seconds_retrain=seconds_retrain,
            seconds_tsr=seconds_tsr,
            time_saved=1.0 - seconds_tsr / seconds_all if seconds_all > 0 else float("nan"),
            speedup=seconds_all / seconds_tsr if seconds_tsr > 0 else float("nan"),
            score_tsr=score_tsr,
            score_change=score_tsr - score_all,
        )
        rows.append(row)
    return rows


def _subsample(data: Dataset, fraction: float, rng: np.random.Generator, cv: int) -> np.ndarray:
    """Sorted training rows for tuning: ``fraction`` of them, at least ``4 * cv``.

    A classification subsample gets ``cv`` rows of every class it missed, so
    that the model has the full label set.
    """
    n = len(data.y_train)
    size = max(int(round(fraction * n)), 4 * cv)
    idx = np.sort(rng.choice(n, size=size, replace=False))
    if data.task == "classification":
        missing = np.setdiff1d(np.unique(data.y_train), data.y_train[idx])
        extra = [np.flatnonzero(data.y_train == c)[:cv] for c in missing]
        idx = np.unique(np.concatenate([idx, *extra])) if extra else idx
    return idx


def _steal(
    learner: Learner, model: Any, X: np.ndarray, y: np.ndarray, data: Dataset
) -> tuple[float | None, str, str, float]:
    """The stolen value, its status and message, and the seconds the attack took.

    The value is ``None`` when the attack found no estimate (the status and message say why).
    """
    name = learner.hyperparameters[0]
    coefs = learner.coefficients(model)
    result, status, message, seconds = steal_safely(learner, coefs, X, y)
    if result is None:
        return None, status, message, seconds
    verdict = judge_estimate(
        result.estimates,
        relative_residual=result.solution.relative_residual,
        **prediction_facts(learner, coefs, data.X_test, data.y_test),
    )
    return result.estimates[name], verdict.status, verdict.reason, seconds


def _retrain(
    learner: Learner, reference: dict[str, float], stolen: float | None, data: Dataset, seed: int
) -> tuple[float, float]:
    """Retrain on all the training rows with the stolen value: (seconds, test score).

    ``(0.0, nan)`` without a positive finite stolen value.
    """
    if stolen is None or not np.isfinite(stolen) or not stolen > 0:
        return 0.0, float("nan")
    hyper = {**reference, learner.hyperparameters[0]: stolen}
    start = time.perf_counter()
    model, _, _ = fit_quietly(
        learner.make_estimator(hyper, random_state=seed), data.X_train, data.y_train
    )
    seconds = time.perf_counter() - start
    return seconds, learner.score(learner.coefficients(model), data.X_test, data.y_test)
