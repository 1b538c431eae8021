"""The reports' errors, each a one-line message and a distinct exit code.

    HypersealError (tuner.errors)
    └── ReportError                 exit 30  root of every report error
        ├── NotAResultError         exit 31  the folder is not a tuning run or an audit result
        ├── ResultFormatError       exit 32  a result file is missing a part or malformed
        ├── ReportOutputError       exit 33  the report cannot be written where asked
        └── MissingKeyError         exit 34  sealed results and no key to open them

Errors of the vault (a wrong key exits 11, a tampered file 12, ...) pass
through unchanged: their messages already say which file and what to do.
Messages never contain a hyperparameter value.
"""

from __future__ import annotations

from tuner.errors import HypersealError

__all__ = [
    "MissingKeyError",
    "NotAResultError",
    "ReportError",
    "ReportOutputError",
    "ResultFormatError",
]


class ReportError(HypersealError):
    """Root of every error the reports raise on purpose."""

    exit_code = 30


class NotAResultError(ReportError):
    """The folder is not a tuning run folder or an audit result folder."""

    exit_code = 31


class ResultFormatError(ReportError):
    """A result file lacks a part the report needs, or is not what it claims to be."""

    exit_code = 32


class ReportOutputError(ReportError):
    """The report cannot be written: a foreign file in the way, a bad name, a write error."""

    exit_code = 33


class MissingKeyError(ReportError):
    """The results are sealed and no key was given."""

    exit_code = 34
