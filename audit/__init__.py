"""Leakage audits: steal hyperparameters from released weights, price the defences.

The attack of Wang & Gong (IEEE S&P 2018): at learned weights ``w*`` the
training objective ``L(w) + Σ λ_k R_k(w)`` is stationary, so ``b + A λ = 0``
with ``b = ∇L(w*)`` and ``A = [∇R_k(w*)]``; least squares gives ``λ̂``.

Where things are:

* :mod:`audit.estimator`: the least-squares solve with diagnostics.
* :mod:`audit.learners`: one module per learner family, each with its
  library's exact objective.
* :mod:`audit.steal`: learner + weights + data → estimate.
* :mod:`audit.io`: safe model and data loading (skops, ``.npz``, JSON; never pickle).
* :mod:`audit.sklearn_audit`: one model file against its data (the CLI's ``sklearn``).
* :mod:`audit.defences`: rounding and noise.
* :mod:`audit.reproduction`, :mod:`audit.tsr`, :mod:`audit.datasets`: the paper's experiments.
* :mod:`audit.deep`: Audit II, deep networks and detectors: steal the weight
  decay of any torch model (:func:`steal_weight_decay`), audit a released
  detector (:func:`audit_model`), its results folder.
* :mod:`audit.errors`: the error hierarchy (exit codes 20-29).

Names are imported on first use, so ``import audit`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit.errors import (
    AuditError,
    AuditOptionError,
    DataFileError,
    ModelFileError,
    NoEquationError,
    NonFiniteError,
    ShapeMismatchError,
    UnknownLearnerError,
    UnsafeModelError,
    UnsupportedModelError,
)
from tuner._lazy import lazy_exports

if TYPE_CHECKING:
    from audit.datasets import Dataset, load_dataset
    from audit.deep import (
        DetectorAudit,
        SavedDetectorAudit,
        WeightDecayEstimate,
        audit_model,
        load_detector_audit,
        save_detector_audit,
        steal_weight_decay,
    )
    from audit.defences import add_noise, round_weights
    from audit.estimator import Solution, solve_hyperparameters
    from audit.io import LoadedModel, load_data, load_model, save_coefficients
    from audit.learners import (
        LEARNERS,
        Equation,
        KernelLogisticRegression,
        Learner,
        get_learner,
        learner_for,
    )
    from audit.reproduction import ReproduceConfig, ReproduceResult, reproduce
    from audit.sklearn_audit import ModelAudit, audit_sklearn
    from audit.steal import (
        StealResult,
        log10_error,
        relative_error,
        steal_from_estimator,
        steal_hyperparameters,
    )
    from audit.tsr import train_steal_retrain

__all__ = [
    "LEARNERS",
    "AuditError",
    "AuditOptionError",
    "DataFileError",
    "Dataset",
    "DetectorAudit",
    "Equation",
    "KernelLogisticRegression",
    "Learner",
    "LoadedModel",
    "ModelAudit",
    "ModelFileError",
    "NoEquationError",
    "NonFiniteError",
    "ReproduceConfig",
    "ReproduceResult",
    "SavedDetectorAudit",
    "ShapeMismatchError",
    "Solution",
    "StealResult",
    "UnknownLearnerError",
    "UnsafeModelError",
    "UnsupportedModelError",
    "WeightDecayEstimate",
    "add_noise",
    "audit_model",
    "audit_sklearn",
    "get_learner",
    "learner_for",
    "load_data",
    "load_dataset",
    "load_detector_audit",
    "load_model",
    "log10_error",
    "relative_error",
    "reproduce",
    "round_weights",
    "save_coefficients",
    "save_detector_audit",
    "solve_hyperparameters",
    "steal_from_estimator",
    "steal_hyperparameters",
    "steal_weight_decay",
    "train_steal_retrain",
]

_LAZY = {
    "Dataset": "audit.datasets",
    "load_dataset": "audit.datasets",
    "DetectorAudit": "audit.deep.model_audit",
    "audit_model": "audit.deep.model_audit",
    "SavedDetectorAudit": "audit.deep.results",
    "load_detector_audit": "audit.deep.results",
    "save_detector_audit": "audit.deep.results",
    "WeightDecayEstimate": "audit.deep.steal",
    "steal_weight_decay": "audit.deep.steal",
    "add_noise": "audit.defences",
    "round_weights": "audit.defences",
    "Solution": "audit.estimator",
    "solve_hyperparameters": "audit.estimator",
    "LoadedModel": "audit.io",
    "load_data": "audit.io",
    "load_model": "audit.io",
    "save_coefficients": "audit.io",
    "LEARNERS": "audit.learners",
    "Equation": "audit.learners",
    "KernelLogisticRegression": "audit.learners",
    "Learner": "audit.learners",
    "get_learner": "audit.learners",
    "learner_for": "audit.learners",
    "ReproduceConfig": "audit.reproduction",
    "ReproduceResult": "audit.reproduction",
    "reproduce": "audit.reproduction",
    "ModelAudit": "audit.sklearn_audit",
    "audit_sklearn": "audit.sklearn_audit",
    "StealResult": "audit.steal",
    "log10_error": "audit.steal",
    "relative_error": "audit.steal",
    "steal_from_estimator": "audit.steal",
    "steal_hyperparameters": "audit.steal",
    "train_steal_retrain": "audit.tsr",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
