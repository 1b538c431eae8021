"""Audit one released model file against its training data (``hyperseal audit sklearn``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.classical.io import load_data, load_model
from audit.classical.learners import get_learner
from audit.classical.status import Judgement, judge_estimate, prediction_facts
from audit.classical.steal import StealResult, steal_hyperparameters, unwrap_pipeline
from audit.errors import AuditOptionError, UnknownLearnerError

__all__ = ["ModelAudit", "audit_sklearn", "parse_true_values"]

_POSITIVE = frozenset({"alpha", "C"})
"""Hyperparameters the libraries require to be positive."""
_FRACTIONS = frozenset({"l1_ratio"})
"""Hyperparameters that lie in [0, 1]."""


@dataclass(frozen=True)
class ModelAudit:
    """The outcome of auditing one model file.

    Attributes:
        learner: Registry name of the learner audited.
        result: The attack's result (estimates and diagnostics).
        true: True hyperparameters given by the owner, if any.
        declared: Hyperparameters the model file stores outright.
        n_rows: Training rows used.
        judgement: Whether the estimate is a measurement
            (:func:`audit.classical.status.judge_estimate` on the training rows, and
            on the solver's iteration count for an estimator file).
    """

    learner: str
    result: StealResult
    true: dict[str, float] = field(default_factory=dict)
    declared: dict[str, float] = field(default_factory=dict)
    n_rows: int = 0
    judgement: Judgement = field(default_factory=lambda: Judgement("ok"))

    @property
    def estimates(self) -> dict[str, float]:
        """Estimated hyperparameters in the library's names."""
        return self.result.estimates

    @property
    def relative_error(self) -> dict[str, float]:
        """Relative error per hyperparameter with a true value."""
        return self.result.relative_errors(self.true)

    def to_json(self) -> dict[str, Any]:
        """``{"learner", "estimates", "status", "reason", "diagnostics"}`` plus ``true``/errors."""
        diagnostics = self.result.diagnostics()
        diagnostics["n_rows"] = self.n_rows
        if self.declared:
            diagnostics["declared_in_file"] = dict(self.declared)
        out: dict[str, Any] = {
            "learner": self.learner,
            "estimates": dict(self.estimates),
            "status": self.judgement.status,
            "reason": self.judgement.reason,
            "diagnostics": diagnostics,
        }
        if self.true:
            out["true"] = dict(self.true)
            out["relative_error"] = self.relative_error
            out["log10_error"] = self.result.log10_errors(self.true)
        return out


def parse_true_values(values: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Parse ``--true`` values: ``NAME=VALUE`` pairs or plain values in ``names`` order.

    Raises:
        AuditOptionError: Unknown name, not a number, a count that does not match,
            or a value no model is trained with (NaN, infinite, ``alpha``/``C``
            not positive, ``l1_ratio`` outside [0, 1]).
    """
    out: dict[str, float] = {}
    plain: list[str] = []
    for raw in values:
        if "=" in raw:
            key, _, text = raw.partition("=")
            key = key.strip()
            if key not in names:
                raise AuditOptionError(
                    f"--true names '{key}', not a hyperparameter of this learner "
                    f"({', '.join(names)})"
                )
            out[key] = _number(text, raw, key)
        else:
            plain.append(raw)
    if plain:
        free = [n for n in names if n not in out]
        if len(plain) != len(free):
            raise AuditOptionError(
                f"--true got {len(plain)} plain value(s) for {len(free)} hyperparameter(s) "
                f"({', '.join(free)}); give one each, in that order, or NAME=VALUE"
            )
        out.update({n: _number(v, v, n) for n, v in zip(free, plain, strict=True)})
    return out


def _number(text: str, raw: str, name: str) -> float:
    """``text`` as the true value of ``name``; ``raw`` is the ``--true`` argument it came from."""
    try:
        value = float(text)
    except ValueError:
        raise AuditOptionError(f"--true value '{raw}' is not a number") from None
    if not math.isfinite(value):
        raise AuditOptionError(
            f"--true value '{raw}' for {name} is not a finite number (it reads as {value}); "
            "give the value the model was trained with"
        )
    if name in _POSITIVE and value <= 0:
        raise AuditOptionError(
            f"--true value '{raw}' for {name} must be greater than 0 (the learner takes no "
            "other); give the value the model was trained with"
        )
    if name in _FRACTIONS and not 0 <= value <= 1:
        raise AuditOptionError(
            f"--true value '{raw}' for {name} must lie in [0, 1]; give the value the model "
            "was trained with"
        )
    return value


def audit_sklearn(
    model: str | Path,
    data: str | Path,
    target: str,
    *,
    learner: str | None = None,
    true: Sequence[str] | Mapping[str, float] | None = None,
) -> ModelAudit:
    """Load a model file and its training data safely, and steal its hyperparameters.

    Args:
        model: A ``.skops`` estimator or a ``.npz``/``.json`` coefficient file.
        data: A CSV or Parquet file with the training rows.
        target: The target column in ``data``.
        learner: Registry name; needed for coefficient files without a
            ``learner`` field, optional (checked) for estimators.
        true: True values (``--true`` strings or a mapping) for the relative error.

    Raises:
        AuditError: Any of its subclasses, each with a one-line message.
    """
    loaded = load_model(model)
    name = learner or loaded.learner
    if name is None:
        raise UnknownLearnerError(
            f"{loaded.path} does not say which learner trained it; pass --learner"
        )
    lrn = get_learner(name)
    if true is None:
        truth: dict[str, float] = {}
    elif isinstance(true, Mapping):
        truth = parse_true_values([f"{k}={v}" for k, v in true.items()], lrn.hyperparameters)
    else:
        truth = parse_true_values(list(true), lrn.hyperparameters)
    X, y, _ = load_data(data, target, feature_names=loaded.feature_names)
    if loaded.estimator is not None:
        final, X = unwrap_pipeline(loaded.estimator, X)
        coefs = lrn.coefficients(final)
    else:
        coefs = loaded.coefficients
    result = steal_hyperparameters(lrn, coefs, X, y)
    converged = True if loaded.estimator is None else solver_converged(final)
    try:  # a model no better than a constant on its own training rows has collapsed
        facts = prediction_facts(lrn, coefs, X, y)
    except (KeyError, ValueError, IndexError):  # e.g. a coefficient file without classes
        facts = {}
    judgement = judge_estimate(
        result.estimates,
        relative_residual=result.solution.relative_residual,
        converged=converged,
        **facts,
    )
    return ModelAudit(
        learner=lrn.name,
        result=result,
        true=truth,
        declared=loaded.declared,
        n_rows=len(y),
        judgement=judgement,
    )


def solver_converged(estimator: Any) -> bool:
    """False when a fitted estimator says it stopped unconverged, or used all its iterations."""
    flag = getattr(estimator, "converged_", None)
    if flag is not None:
        return bool(flag)
    n_iter = getattr(estimator, "n_iter_", None)
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    limit = params.get("max_iter")
    if n_iter is None or not isinstance(limit, (int, float)) or limit <= 0:
        return True
    try:
        used = float(np.max(np.asarray(n_iter, dtype=np.float64)))
    except (TypeError, ValueError):
        return True
    return used < limit
