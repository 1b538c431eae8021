"""The error hierarchy shared by every hyperseal package.

    HypersealError                  exit 1   root: the CLI prints one line for any of these
    ├── ConfigError                 exit 3   a bad config, search space or option value
    ├── DataError                   exit 4   a dataset that cannot be used as it is
    ├── ModelError                  exit 5   an unknown architecture or a model file we refuse
    ├── TrainingError               exit 6   training could not go on
    │   └── DivergedError           exit 7   the loss became NaN or infinite
    └── OutputError                 exit 8   a file could not be written or read mid-run

An output folder that is refused before the work (a file in the way, no
permission, not empty) is a bad option value, exit 3 (``tuner.outputs``). Any
``OSError`` that reaches the CLI later (a disk filling up mid-write) is printed
as one line with exit 8.

Other packages root their own errors here (``tuner.vault.errors``: 10-19,
``audit.errors``: 20-29, ``reports.errors``: 30-39) so that the CLI maps every
one of them to a one-line message and a distinct exit code.

Messages say what went wrong, where, and how to fix it. They never contain a
passphrase or a hyperparameter value from a sealed source.
"""

from __future__ import annotations


class HypersealError(Exception):
    """Root of every error hyperseal raises on purpose."""

    exit_code: int = 1


class ConfigError(HypersealError):
    """A config, search space or option value is invalid."""

    exit_code = 3


class DataError(HypersealError):
    """A dataset is missing, malformed or inconsistent."""

    exit_code = 4


class ModelError(HypersealError):
    """An architecture is unknown or a model file cannot be trusted or read."""

    exit_code = 5


class TrainingError(HypersealError):
    """Training stopped and cannot go on."""

    exit_code = 6


class DivergedError(TrainingError):
    """The training loss became NaN or infinite."""

    exit_code = 7


class OutputError(HypersealError):
    """A file could not be written or read once the work had started (a full disk).

    The CLI gives any ``OSError`` that reaches it this exit code and one line;
    Python callers see the ``OSError`` itself.
    """

    exit_code = 8
