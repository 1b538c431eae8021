"""The audit's errors, each a one-line message and a distinct exit code.

    HypersealError (tuner.errors)
    └── AuditError                  exit 20  root of every audit error
        ├── UnknownLearnerError     exit 21  a learner name the audit does not know
        ├── ShapeMismatchError      exit 22  model and data (or b and A) do not fit together
        ├── NoEquationError         exit 23  nothing to solve: all-zero weights, unidentifiable
        ├── NonFiniteError          exit 24  NaN or infinity in weights, data or equation
        ├── UnsafeModelError        exit 25  a file we refuse to load (pickle, untrusted types)
        ├── ModelFileError          exit 26  a model file that cannot be read or lacks a field
        ├── DataFileError           exit 27  a data file that cannot be read or lacks the target
        ├── UnsupportedModelError   exit 28  a model setting the audit does not model exactly
        └── AuditOptionError        exit 29  an option value that makes no sense

Messages say what went wrong, where, and how to fix it, on one line.
"""

from __future__ import annotations

from tuner.errors import HypersealError

__all__ = [
    "AuditError",
    "AuditOptionError",
    "DataFileError",
    "ModelFileError",
    "NoEquationError",
    "NonFiniteError",
    "ShapeMismatchError",
    "UnknownLearnerError",
    "UnsafeModelError",
    "UnsupportedModelError",
]


class AuditError(HypersealError):
    """Root of every error the audit raises on purpose."""

    exit_code = 20


class UnknownLearnerError(AuditError):
    """A learner name (or an estimator type) the audit has no objective for."""

    exit_code = 21


class ShapeMismatchError(AuditError):
    """Weights, data or equation arrays whose shapes do not fit together."""

    exit_code = 22


class NoEquationError(AuditError):
    """The stationarity equation carries no information about the hyperparameters."""

    exit_code = 23


class NonFiniteError(AuditError):
    """NaN or infinity where finite numbers are needed."""

    exit_code = 24


class UnsafeModelError(AuditError):
    """A model file that could run code when loaded, or holds types we do not trust."""

    exit_code = 25


class ModelFileError(AuditError):
    """A model file that cannot be read, or lacks a field the learner needs."""

    exit_code = 26


class DataFileError(AuditError):
    """A data file that cannot be read, lacks the target column or is not numeric."""

    exit_code = 27


class UnsupportedModelError(AuditError):
    """A model trained with a setting whose objective the audit does not reproduce."""

    exit_code = 28


class AuditOptionError(AuditError):
    """An option value that cannot be used (wrong count, out of range)."""

    exit_code = 29
