"""Leakage audits: steal hyperparameters from released weights, price the defences.

The attack of Wang & Gong (IEEE S&P 2018): at learned weights ``w*`` the
training objective ``L(w) + Σ λ_k R_k(w)`` is stationary, so ``b + A λ = 0``
with ``b = ∇L(w*)`` and ``A = [∇R_k(w*)]``; least squares gives ``λ̂``.

Where things are:

* :mod:`audit.estimator`: the least-squares solve with diagnostics, shared by
  both attacks, and the error of an estimate against the truth.
* :mod:`audit.classical`: Audit I, scikit-learn models: the learners' exact
  objectives, the attack, safe model and data loading, defences and the
  paper's experiments (the CLI's ``sklearn`` and ``reproduce``).
* :mod:`audit.deep`: Audit II, deep networks and detectors: steal the weight
  decay of any torch model (:func:`steal_weight_decay`), audit a released
  detector (:func:`audit_model`), its results folder (the CLI's ``model``).
* :mod:`audit.cli`: the ``hyperseal audit`` commands; :mod:`audit.output`: the
  results folder checks both attacks share.
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
    from audit.classical.datasets import Dataset, load_dataset
    from audit.classical.defences import add_noise, round_weights
    from audit.classical.io import LoadedModel, load_data, load_model, save_coefficients
    from audit.classical.learners import (
        LEARNERS,
        Equation,
        KernelLogisticRegression,
        Learner,
        get_learner,
        learner_for,
    )
    from audit.classical.reproduction import ReproduceConfig, ReproduceResult, reproduce
    from audit.classical.sklearn_audit import ModelAudit, audit_sklearn
    from audit.classical.steal import StealResult, steal_from_estimator, steal_hyperparameters
    from audit.classical.tsr import train_steal_retrain
    from audit.deep import (
        DetectorAudit,
        SavedDetectorAudit,
        WeightDecayEstimate,
        audit_model,
        load_detector_audit,
        save_detector_audit,
        steal_weight_decay,
    )
    from audit.estimator import Solution, log10_error, relative_error, solve_hyperparameters

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
    "Dataset": "audit.classical.datasets",
    "load_dataset": "audit.classical.datasets",
    # audit.deep's own table says where these live
    **dict.fromkeys(
        (
            "DetectorAudit",
            "audit_model",
            "SavedDetectorAudit",
            "load_detector_audit",
            "save_detector_audit",
            "WeightDecayEstimate",
            "steal_weight_decay",
        ),
        "audit.deep",
    ),
    "add_noise": "audit.classical.defences",
    "round_weights": "audit.classical.defences",
    "Solution": "audit.estimator",
    "solve_hyperparameters": "audit.estimator",
    "LoadedModel": "audit.classical.io",
    "load_data": "audit.classical.io",
    "load_model": "audit.classical.io",
    "save_coefficients": "audit.classical.io",
    "LEARNERS": "audit.classical.learners",
    "Equation": "audit.classical.learners",
    "KernelLogisticRegression": "audit.classical.learners",
    "Learner": "audit.classical.learners",
    "get_learner": "audit.classical.learners",
    "learner_for": "audit.classical.learners",
    "ReproduceConfig": "audit.classical.reproduction",
    "ReproduceResult": "audit.classical.reproduction",
    "reproduce": "audit.classical.reproduction",
    "ModelAudit": "audit.classical.sklearn_audit",
    "audit_sklearn": "audit.classical.sklearn_audit",
    "StealResult": "audit.classical.steal",
    "log10_error": "audit.estimator",
    "relative_error": "audit.estimator",
    "steal_from_estimator": "audit.classical.steal",
    "steal_hyperparameters": "audit.classical.steal",
    "train_steal_retrain": "audit.classical.tsr",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
