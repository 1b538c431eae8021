"""Tuning runs: the run folder (``folder``), its journal's checkpoint (``checkpoint``),
the options every run has (``options``) and the engine that fills the folder (``run``).

Names load on first use: ``tuner.engine.folder`` stays a light import (the reports
read ``run.json`` through it).
"""

from __future__ import annotations

from tuner._lazy import lazy_exports

_RUN = (
    "ObjectiveFailingError",
    "PreparedRun",
    "RunTarget",
    "TuneOutcome",
    "load_journal",
    "load_results",
    "resume_run",
    "start_run",
)
_WHERE = {"RunOptions": "tuner.engine.options", **{name: "tuner.engine.run" for name in _RUN}}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
