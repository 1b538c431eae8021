"""Secrets handed to hyperseal through the environment, kept out of every worker.

``$HYPERSEAL_PASSPHRASE`` (and ``$HYPERSEAL_NEW_PASSPHRASE``, the new passphrase of a
rotation) are read here and nowhere else. The first read takes the variable out of this
process's environment (``os.environ.pop``, which unsets it for the C library too) and keeps
the value in memory, so that every later read in the same command (a resume, a report, a
second file opened with the same passphrase) still finds it, while any process started
afterwards (a local trial worker, a Dask worker) can no longer inherit it.

Executors call :func:`scrub` before they start workers, so that a passphrase set but not
yet read is taken out too, and pass :func:`worker_environ` where a process is started
with an explicit environment. The CLI calls :func:`forget` when a command ends (and before
one starts), so that a value never outlives the command that was given it.
"""

from __future__ import annotations

import os

#: Environment variables that hold a secret: never inherited by a worker.
SECRET_VARIABLES = ("HYPERSEAL_PASSPHRASE", "HYPERSEAL_NEW_PASSPHRASE")

_taken: dict[str, str] = {}


def take(variable: str) -> str | None:
    """The value of secret environment variable ``variable``, removed from the environment.

    A value set again since the last read (a new command in the same process) wins over
    the one remembered. ``None`` when it was never set in this command.
    """
    value = os.environ.pop(variable, None)
    if value is not None:
        _taken[variable] = value
    return _taken.get(variable)


def scrub() -> None:
    """Take every secret variable out of this process's environment (remembering it)."""
    for variable in SECRET_VARIABLES:
        take(variable)


def worker_environ() -> dict[str, str]:
    """This process's environment with no secret in it, for a process started explicitly."""
    scrub()
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}


def drop_in_worker() -> None:
    """Remove any secret variable from a worker's own environment (without remembering it):
    a last line of defence for a worker started by something else."""
    for variable in SECRET_VARIABLES:
        os.environ.pop(variable, None)


def present() -> list[str]:
    """The secret variables set in this process's environment (run on a remote worker to
    check that it holds none)."""
    return [variable for variable in SECRET_VARIABLES if variable in os.environ]


def forget() -> None:
    """Drop every remembered value (at the end of a command)."""
    _taken.clear()


__all__ = [
    "SECRET_VARIABLES",
    "drop_in_worker",
    "forget",
    "present",
    "scrub",
    "take",
    "worker_environ",
]
