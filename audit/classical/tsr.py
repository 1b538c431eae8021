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
    coefs_all = learner.coefficients(model_all)
    score_all = learner.score(coefs_all, data.X_test, data.y_test)
    rng = np.random.default_rng(seed)
    rows = []
    n = len(data.y_train)
    for fraction in fractions:
        size = max(int(round(fraction * n)), 4 * cv)
        idx = np.sort(rng.choice(n, size=size, replace=False))
        if data.task == "classification":
            # keep every class present so that the model has the full label set
            missing = np.setdiff1d(np.unique(data.y_train), data.y_train[idx])
            extra = [np.flatnonzero(data.y_train == c)[:cv] for c in missing]
            idx = np.unique(np.concatenate([idx, *extra])) if extra else idx
        X_f, y_f = data.X_train[idx], data.y_train[idx]
        best_f, model_f, seconds_tune = _grid_search(
            learner, reference, name, grid, X_f, y_f, cv, seed
        )
        coefs_f = learner.coefficients(model_f)
        result, status, message, seconds_steal = steal_safely(learner, coefs_f, X_f, y_f)
        if result is not None:
            verdict = judge_estimate(
                result.estimates,
                relative_residual=result.solution.relative_residual,
                **prediction_facts(learner, coefs_f, data.X_test, data.y_test),
            )
            status, message = verdict.status, verdict.reason
        stolen = result.estimates[name] if result is not None else float("nan")
        row: dict[str, Any] = {
            "learner": learner.name,
            "dataset": data.name,
            "hyperparameter": name,
            "fraction": float(len(idx) / n),
            "value_tuned_all": best_all,
            "value_tuned_fraction": best_f,
            "value_stolen": stolen,
            "steal_relative_error": relative_error(stolen, best_f) if result else float("nan"),
            "status": status,
            "message": message,
            "seconds_tune_all": seconds_all,
            "seconds_tune_fraction": seconds_tune,
            "seconds_steal": seconds_steal,
            "test_metric": learner.metric,
            "score_tune_all": score_all,
        }
        if result is not None and np.isfinite(stolen) and stolen > 0:
            hyper = {**reference, name: stolen}
            start = time.perf_counter()
            model, _, _ = fit_quietly(
                learner.make_estimator(hyper, random_state=seed), data.X_train, data.y_train
            )
            seconds_retrain = time.perf_counter() - start
            score_tsr = learner.score(learner.coefficients(model), data.X_test, data.y_test)
        else:
            seconds_retrain, score_tsr = 0.0, float("nan")
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
