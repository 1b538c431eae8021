"""The four experiments of Wang & Gong, one table each; :class:`ReproduceConfig` says what runs.

* :func:`estimation_table`: every learner on its datasets with true
  hyperparameters over 10⁻³…10³ (library default solver tolerances): estimate and error.
* :func:`tolerance_table`: iterative learners at one hyperparameter while their
  solver's ``tol`` shrinks; :func:`tolerance_summary` fits the slope of
  ``log10(relative error)`` against ``log10(tol)``.
* :func:`defence_table`: the weights rounded to ``k`` decimals, or given
  Gaussian noise: the new estimation error and the change in test score.
* :func:`tsr_table`: tune on a fraction, steal, retrain on all, against tuning
  on all (time and test score).

Column meanings are in :data:`COLUMNS`. :func:`audit.classical.reproduction.reproduce`
runs them and writes the tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.classical.datasets import load_dataset
from audit.classical.defences import add_noise, round_weights
from audit.classical.experiments import Trial, steal_safely, train_and_steal
from audit.classical.learners import LEARNERS, get_learner
from audit.classical.status import judge_estimate, prediction_facts
from audit.classical.tsr import train_steal_retrain
from audit.estimator import log10_error, relative_error

__all__ = [
    "COLUMNS",
    "SETTINGS",
    "ReproduceConfig",
    "Setting",
    "defence_table",
    "estimation_table",
    "same_estimates",
    "tolerance_summary",
    "tolerance_table",
    "tsr_table",
]


@dataclass(frozen=True)
class Setting:
    """How one learner takes part in the experiments.

    Attributes:
        datasets: Datasets it runs on (the first one in quick runs).
        reference: Its hyperparameters for the tolerance, defence and TSR runs.
        max_train: Cap on training rows (kernel learners).
    """

    datasets: tuple[str, ...]
    reference: dict[str, float]
    max_train: int | None = None


_CLS = ("iris2", "breast_cancer", "digits")
_BIN = ("iris2", "breast_cancer", "digits_binary")
SETTINGS: dict[str, Setting] = {
    "ridge": Setting(("diabetes",), {"alpha": 1.0}),
    "lasso": Setting(("diabetes",), {"alpha": 0.01}),
    "elastic_net": Setting(("diabetes",), {"alpha": 0.01, "l1_ratio": 0.5}),
    "kernel_ridge": Setting(("diabetes",), {"alpha": 1.0}),
    "logistic_l2": Setting(_CLS, {"C": 1.0}),
    "logistic_l1": Setting(_BIN, {"C": 1.0}),
    "logistic_elasticnet": Setting(("iris2", "breast_cancer"), {"C": 1.0, "l1_ratio": 0.5}),
    "linear_svc": Setting(_CLS, {"C": 1.0}),
    "linear_svc_l1": Setting(_CLS, {"C": 1.0}),
    "linear_svc_hinge": Setting(_CLS, {"C": 1.0}),
    "kernel_svm": Setting(_BIN, {"C": 1.0}, max_train=600),
    "kernel_logistic": Setting(_BIN, {"C": 1.0}, max_train=600),
    "mlp_regressor": Setting(("diabetes",), {"alpha": 10.0}),
    "mlp_classifier": Setting(_CLS, {"alpha": 1.0}),
}


_ITERATIVE = tuple(name for name, lrn in LEARNERS.items() if lrn.iterative)


@dataclass(frozen=True)
class ReproduceConfig:
    """What :func:`reproduce` runs. ``quick()`` and ``full()`` are the two presets."""

    learners: tuple[str, ...] = tuple(SETTINGS)
    all_datasets: bool = True
    values: tuple[float, ...] = tuple(10.0**k for k in range(-3, 4))
    tolerance_learners: tuple[str, ...] = _ITERATIVE
    tols: tuple[float, ...] = tuple(10.0**-k for k in range(1, 9))
    defence_learners: tuple[str, ...] = tuple(SETTINGS)
    decimals: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    noise: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    tsr_learners: tuple[str, ...] = (
        "ridge",
        "lasso",
        "kernel_ridge",
        "logistic_l2",
        "linear_svc",
        "kernel_svm",
    )
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5)
    tsr_grid: tuple[float, ...] = tuple(10.0**k for k in np.arange(-3, 3.01, 0.5))
    cv: int = 3
    kernel_max_train: int | None = 600
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def full(cls) -> ReproduceConfig:
        """Every learner on every dataset, seven true values, eight tolerances."""
        return cls()

    @classmethod
    def quick(cls) -> ReproduceConfig:
        """One dataset per learner, short grids elsewhere: seconds on two cores.

        The estimation experiment keeps the full run's seven true values: with
        three, a learner's median came from one or two ``ok`` rows and was
        dominated by its weakest regularisation (0.2 against the full run's
        2e-3 for four learners).
        """
        return cls(
            all_datasets=False,
            tols=(1e-2, 1e-4, 1e-6),
            decimals=(1, 2, 3, 4),
            noise=(1e-3, 1e-1),
            tsr_learners=("ridge", "logistic_l2", "kernel_svm"),
            fractions=(0.25,),
            tsr_grid=tuple(10.0**k for k in range(-3, 4)),
            kernel_max_train=300,
        )

    def datasets(self, learner: str) -> tuple[str, ...]:
        """Datasets ``learner`` runs on under this config."""
        names = SETTINGS[learner].datasets
        return names if self.all_datasets else names[:1]

    def max_train(self, learner: str) -> int | None:
        """Training-row cap for ``learner`` under this config."""
        if SETTINGS[learner].max_train is None:
            return None
        return self.kernel_max_train


COLUMNS: dict[str, dict[str, str]] = {
    "estimation": {
        "learner": "registry name of the learner (audit.classical.learners.LEARNERS)",
        "dataset": "bundled dataset (audit.classical.datasets.DATASETS)",
        "run": "index of the trained model; rows of one model share it",
        "hyperparameter": "library name of the hyperparameter (alpha, C, l1_ratio)",
        "true_value": "value the model was trained with",
        "estimate": "value the attack recovered (NaN when there was no equation or it failed)",
        "relative_error": "|estimate - true| / |true|",
        "log10_error": "|log10(estimate / true)|, orders of magnitude apart",
        "status": "ok (counted in medians) | no_equation | failed | out_of_range | collapsed | "
        "not_identifiable | not_converged (audit.classical.status.STATUSES)",
        "message": "why the status is not ok, in one line (every rule that applied)",
        "converged": "False when the solver warned that it did not converge",
        "tol": "solver tolerance used (NaN: library default)",
        "train_seconds": "seconds to train the model",
        "steal_seconds": "seconds the attack took",
        "residual_norm": "||b + A lambda_hat||",
        "relative_residual": "residual_norm / ||b||",
        "condition_number": "condition number of the column-scaled A",
        "n_equations": "number of equations (rows of A)",
        "n_train": "training rows",
        "test_metric": "r2 (regression) or accuracy (classification)",
        "test_score": "test score of the released model",
        "chance_score": "best constant predictor's test accuracy (majority-class share); "
        "NaN for regression",
    },
    "tolerance": {
        "learner": "registry name",
        "dataset": "bundled dataset",
        "tol": "solver tolerance the model was trained with",
        "hyperparameter": "library name",
        "true_value": "value the model was trained with",
        "estimate": "value recovered",
        "relative_error": "|estimate - true| / |true|",
        "status": "ok | no_equation | failed | out_of_range | collapsed | not_identifiable | "
        "not_converged",
        "message": "why the status is not ok, in one line",
        "converged": "False when the solver warned that it did not converge",
    },
    "tolerance_summary": {
        "learner": "registry name",
        "dataset": "bundled dataset",
        "slope": "least-squares slope of log10(relative error) on log10(tol), ok rows",
        "error_at_loosest": "relative error at the largest tol",
        "error_at_tightest": "relative error at the smallest tol",
        "n_points": "ok rows with a positive error used in the fit",
    },
    "defences": {
        "learner": "registry name",
        "dataset": "bundled dataset",
        "defence": "none | round (to `level` decimals) | noise (relative scale `level`)",
        "level": "decimals kept (round) or relative noise scale (noise); NaN for none",
        "hyperparameter": "library name",
        "true_value": "value the model was trained with",
        "estimate": "value recovered from the defended weights",
        "relative_error": "|estimate - true| / |true|",
        "log10_error": "|log10(estimate / true)|",
        "status": "ok | no_equation | failed | out_of_range | collapsed | not_identifiable | "
        "not_converged (of the estimate from the defended weights)",
        "message": "why the status is not ok, in one line",
        "test_metric": "r2 or accuracy",
        "test_score_original": "test score with the released weights",
        "test_score_defended": "test score with the defended weights",
        "score_change": "test_score_defended - test_score_original",
    },
    "train_steal_retrain": {
        "learner": "registry name",
        "dataset": "bundled dataset",
        "hyperparameter": "the tuned hyperparameter",
        "fraction": "fraction of the training rows used for tuning",
        "value_tuned_all": "value chosen by cross-validation on all training rows",
        "value_tuned_fraction": "value chosen by cross-validation on the fraction",
        "value_stolen": "value stolen from the model trained on the fraction",
        "steal_relative_error": "|value_stolen - value_tuned_fraction| / value_tuned_fraction",
        "status": "ok | no_equation | failed | out_of_range | collapsed | not_identifiable "
        "(of the steal)",
        "message": "the audit's message when status is not ok",
        "seconds_tune_all": "cross-validation on all rows (the baseline's cost)",
        "seconds_tune_fraction": "cross-validation on the fraction",
        "seconds_steal": "the attack",
        "seconds_retrain": "one training on all rows with the stolen value",
        "seconds_tsr": "tune_fraction + steal + retrain",
        "time_saved": "1 - seconds_tsr / seconds_tune_all",
        "speedup": "seconds_tune_all / seconds_tsr",
        "test_metric": "r2 or accuracy",
        "score_tune_all": "test score after tuning on all rows",
        "score_tsr": "test score after Train-Steal-Retrain",
        "score_change": "score_tsr - score_tune_all",
    },
}


def _units(progress: Any, description: str, total: int) -> Callable[..., None]:
    if progress is None:
        return lambda **info: None
    progress.start(description, total=total)
    return lambda **info: progress.advance(1, **info)


def _hyper(learner: str, value: float) -> dict[str, float]:
    ref = dict(SETTINGS[learner].reference)
    ref[get_learner(learner).hyperparameters[0]] = float(value)
    return ref


def estimation_table(config: ReproduceConfig, progress: Any = None) -> Any:
    """Train each learner at each true value on its datasets and steal it back.

    Each model's row gets its status from :func:`audit.classical.status.judge_estimate`;
    models of one series (learner and dataset) that gave the same estimate for
    different true values are ``not_identifiable``.
    """
    import pandas as pd

    jobs = [(lr, ds) for lr in config.learners for ds in config.datasets(lr)]
    step = _units(progress, "estimation", len(jobs) * len(config.values))
    rows: list[dict[str, Any]] = []
    run = 0
    for learner, name in jobs:
        data = load_dataset(name, seed=config.seed, max_train=config.max_train(learner))
        lrn = get_learner(learner)
        trials = []
        for value in config.values:
            trials.append(
                train_and_steal(
                    lrn, _hyper(learner, value), data.X_train, data.y_train, seed=config.seed
                )
            )
            step(learner=learner, dataset=name)
        for trial, twin in zip(trials, same_estimates(trials), strict=True):
            trial.judge(data.X_test, data.y_test, same_estimate_as=twin)
            base = {"learner": learner, "dataset": name, "run": run}
            trial.extra.update(tol=float("nan"), n_train=len(data.y_train), test_metric=lrn.metric)
            rows.extend(trial.rows(base))
            run += 1
    return pd.DataFrame(rows, columns=list(COLUMNS["estimation"]))


def same_estimates(trials: Sequence[Trial], rel: float = 1e-9) -> list[str | None]:
    """For each trial, another true value whose model gave the same estimates (else ``None``).

    Same means every hyperparameter's estimate agrees to ``rel`` relative
    difference while the true values differ: the weights did not move with
    the hyperparameter, so they cannot tell those values apart.
    """
    out: list[str | None] = []
    for i, trial in enumerate(trials):
        twin = None
        for j, other in enumerate(trials):
            if i == j or trial.result is None or other.result is None:
                continue
            if trial.hyper == other.hyper:
                continue
            if all(
                math.isclose(trial.result.estimates[k], other.result.estimates[k], rel_tol=rel)
                for k in trial.result.estimates
            ):
                changed = [k for k in trial.hyper if trial.hyper[k] != other.hyper.get(k)]
                twin = ", ".join(f"{k} = {other.hyper[k]:g}" for k in changed)
                break
        out.append(twin)
    return out


def tolerance_table(config: ReproduceConfig, progress: Any = None) -> Any:
    """Train iterative learners with shrinking ``tol`` and steal each model."""
    import pandas as pd

    learners = [lr for lr in config.tolerance_learners if lr in config.learners]
    step = _units(progress, "tolerance", len(learners) * len(config.tols))
    rows: list[dict[str, Any]] = []
    for learner in learners:
        name = config.datasets(learner)[0]
        if learner in ("logistic_l2", "logistic_l1", "linear_svc", "linear_svc_hinge"):
            name = "breast_cancer"  # more equations than iris2: a cleaner trend
        data = load_dataset(name, seed=config.seed, max_train=config.max_train(learner))
        for tol in config.tols:
            trial = train_and_steal(
                learner,
                SETTINGS[learner].reference,
                data.X_train,
                data.y_train,
                tol=tol,
                seed=config.seed,
            )
            trial.judge(data.X_test, data.y_test)
            for row in trial.rows({"learner": learner, "dataset": name, "tol": tol}):
                rows.append({k: row[k] for k in COLUMNS["tolerance"]})
            step(learner=learner, tol=tol)
    return pd.DataFrame(rows, columns=list(COLUMNS["tolerance"]))


def tolerance_summary(table: Any) -> Any:
    """Slope of ``log10(relative error)`` against ``log10(tol)`` per learner."""
    import pandas as pd

    rows = []
    for (learner, dataset), group in table.groupby(["learner", "dataset"], sort=False):
        group = group.sort_values("tol")
        ok = group[(group["status"] == "ok") & (group["relative_error"] > 0)]
        ok = ok.groupby("tol", as_index=False)["relative_error"].max()
        slope = (
            float(np.polyfit(np.log10(ok["tol"]), np.log10(ok["relative_error"]), 1)[0])
            if len(ok) >= 2
            else float("nan")
        )
        rows.append(
            {
                "learner": learner,
                "dataset": dataset,
                "slope": slope,
                "error_at_loosest": float(group["relative_error"].iloc[-1]),
                "error_at_tightest": float(group["relative_error"].iloc[0]),
                "n_points": len(ok),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS["tolerance_summary"]))


def defence_table(config: ReproduceConfig, progress: Any = None) -> Any:
    """Round (or add noise to) released weights; re-run the attack and re-score."""
    import pandas as pd

    learners = [lr for lr in config.defence_learners if lr in config.learners]
    levels = [("none", float("nan"))]
    levels += [("round", float(k)) for k in config.decimals]
    levels += [("noise", float(s)) for s in config.noise]
    step = _units(progress, "defences", len(learners) * len(levels))
    rows: list[dict[str, Any]] = []
    for learner in learners:
        lrn = get_learner(learner)
        name = config.datasets(learner)[0]
        data = load_dataset(name, seed=config.seed, max_train=config.max_train(learner))
        trial = train_and_steal(
            lrn, SETTINGS[learner].reference, data.X_train, data.y_train, seed=config.seed
        )
        original = lrn.score(trial.coefs, data.X_test, data.y_test)
        for defence, level in levels:
            if defence == "round":
                coefs = round_weights(lrn, trial.coefs, int(level))
            elif defence == "noise":
                coefs = add_noise(lrn, trial.coefs, level, seed=config.seed)
            else:
                coefs = trial.coefs
            result, status, message, _ = steal_safely(lrn, coefs, data.X_train, data.y_train)
            facts = prediction_facts(lrn, coefs, data.X_test, data.y_test)
            defended = facts["test_score"]
            if result is not None:
                verdict = judge_estimate(
                    result.estimates,
                    relative_residual=result.solution.relative_residual,
                    converged=trial.converged,
                    **facts,
                )
                status, message = verdict.status, verdict.reason
            for hp in lrn.hyperparameters:
                true = float(trial.hyper[hp])
                est = result.estimates[hp] if result is not None else float("nan")
                rows.append(
                    {
                        "learner": learner,
                        "dataset": name,
                        "defence": defence,
                        "level": level,
                        "hyperparameter": hp,
                        "true_value": true,
                        "estimate": est,
                        "relative_error": relative_error(est, true) if result else np.nan,
                        "log10_error": log10_error(est, true) if result else np.nan,
                        "status": status,
                        "message": message,
                        "test_metric": lrn.metric,
                        "test_score_original": original,
                        "test_score_defended": defended,
                        "score_change": defended - original,
                    }
                )
            step(learner=learner, defence=defence)
    return pd.DataFrame(rows, columns=list(COLUMNS["defences"]))


def tsr_table(config: ReproduceConfig, progress: Any = None) -> Any:
    """Train-Steal-Retrain against tuning on all the data."""
    import pandas as pd

    learners = [lr for lr in config.tsr_learners if lr in config.learners]
    jobs = [(lr, ds) for lr in learners for ds in config.datasets(lr)]
    step = _units(progress, "train-steal-retrain", len(jobs))
    rows: list[dict[str, Any]] = []
    for learner, name in jobs:
        data = load_dataset(name, seed=config.seed, max_train=config.max_train(learner))
        rows.extend(
            train_steal_retrain(
                get_learner(learner),
                data,
                reference=SETTINGS[learner].reference,
                fractions=config.fractions,
                grid=config.tsr_grid,
                cv=config.cv,
                seed=config.seed,
            )
        )
        step(learner=learner, dataset=name)
    return pd.DataFrame(rows, columns=list(COLUMNS["train_steal_retrain"]))
