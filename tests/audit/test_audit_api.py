"""The public surface: exported names, error hierarchy and exit codes, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import audit
import audit.errors as errors
from tuner.errors import HypersealError

EXPORTED = {
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
}


def test_exported_members_are_pinned() -> None:
    assert set(audit.__all__) == EXPORTED
    for name in audit.__all__:
        assert getattr(audit, name) is not None
    with pytest.raises(AttributeError):
        audit.not_a_name  # noqa: B018


def test_error_exit_codes_are_distinct_and_in_range() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    codes = [cls.exit_code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert all(20 <= code <= 29 for code in codes)
    for cls in classes:
        assert issubclass(cls, errors.AuditError) and issubclass(cls, HypersealError)


def test_import_audit_is_light() -> None:
    code = (
        "import sys, audit; print([m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_relative_and_log_errors() -> None:
    assert audit.relative_error(1.1, 1.0) == pytest.approx(0.1)
    assert audit.relative_error(0.0, 0.0) == 0.0
    assert audit.relative_error(1.0, 0.0) == float("inf")
    assert audit.log10_error(10.0, 1.0) == pytest.approx(1.0)
    assert audit.log10_error(0.1, 1.0) == pytest.approx(1.0)
    assert audit.log10_error(-1.0, 1.0) == float("inf")


def test_learner_registry() -> None:
    assert audit.get_learner("Elastic-Net").name == "elastic_net"
    learner = audit.get_learner("ridge")
    assert audit.get_learner(learner) is learner
    with pytest.raises(audit.UnknownLearnerError, match="choose one of"):
        audit.get_learner("xgboost")
    with pytest.raises(audit.UnknownLearnerError, match="no learner models"):
        audit.learner_for(object())
    for lrn in audit.LEARNERS.values():
        lam = lrn.to_lambdas({name: 0.25 for name in lrn.hyperparameters})
        back = lrn.to_library(lam)
        assert back == pytest.approx({name: 0.25 for name in lrn.hyperparameters})
        assert len(lam) == len(lrn.lambda_names)
