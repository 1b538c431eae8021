"""Tuning runs: the sealed run folder (``folder``) and the engine that fills it (``run``)."""

from tuner.engine.run import (
    ObjectiveFailingError,
    RunTarget,
    TuneOutcome,
    load_journal,
    load_results,
    resume_run,
    start_run,
)

__all__ = [
    "ObjectiveFailingError",
    "RunTarget",
    "TuneOutcome",
    "load_journal",
    "load_results",
    "resume_run",
    "start_run",
]
