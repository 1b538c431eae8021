"""``tune_run``, ``resume_run`` and ``load_results``: detector tuning with everything sealed.

This module only puts the pieces together: the built-in detector trainer is a
run target (:mod:`tuner.objectives.detector`: its options, checks, best model and
vault record), and the run engine (:mod:`tuner.engine.run`) owns the run folder
(:mod:`tuner.engine.folder` describes its layout). Importing both run targets
here (the detector's, and :class:`~tuner.objectives.target.ObjectiveTarget` for
functions and commands) is what lets ``resume_run`` read either kind of run back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tuner.engine.checkpoint import load_journal, tuning_result_for
from tuner.engine.folder import (
    BEST_DIR,
    EXPORT_DIR,
    JOURNAL_FILE,
    RUN_FILE,
    RUN_FORMAT,
    VAULT_FILE,
    check_run_dir,
    export_run,
    new_run_dir,
    run_vault_path,
)
from tuner.engine.run import PreparedRun, TuneOutcome, load_results, resume_run
from tuner.objectives.detector import (
    DetectorTarget,
    TuneOptions,
    check_options,
    dataset_fingerprint,
    prepare,
)
from tuner.objectives.target import ObjectiveTarget
from tuner.progress import Progress

if TYPE_CHECKING:
    from tuner.vault import KeySource

__all__ = [
    "BEST_DIR",
    "EXPORT_DIR",
    "JOURNAL_FILE",
    "RUN_FILE",
    "RUN_FORMAT",
    "VAULT_FILE",
    "DetectorTarget",
    "ObjectiveTarget",
    "TuneOptions",
    "TuneOutcome",
    "check_destination",
    "check_options",
    "check_run_dir",
    "dataset_fingerprint",
    "export_run",
    "load_journal",
    "load_results",
    "new_run_dir",
    "prepare_run",
    "resume_run",
    "run_vault_path",
    "tune_run",
    "tuning_result_for",
]


def tune_run(
    options: TuneOptions,
    key: KeySource,
    run_dir: Path,
    *,
    progress: Progress | None = None,
) -> TuneOutcome:
    """Tune a detector; seal the journal and best config with ``key``; keep the best model.

    The run folder is created only once every option, the vault's key and the
    entry name have been checked; an error that escapes while it is still empty
    removes it again.

    Raises:
        ConfigError: ``run_dir`` is not a new or empty folder that can be written, a bad
            option, or ``entry`` is taken in an existing vault.
        and the errors of data loading, the vault and the search.
    """
    return prepare_run(options, run_dir).start(key, progress=progress)


def prepare_run(options: TuneOptions, run_dir: Path) -> PreparedRun:
    """Check the run folder (first: it costs nothing), every option (which loads the data)
    and the entry's name; nothing is written. ``.start(key)`` runs it.

    Raises:
        ConfigError, DataError, ModelError: the first problem found, in one line.
    """
    return PreparedRun.checked(run_dir, lambda: prepare(options))


def check_destination(
    options: TuneOptions, run_dir: Path, key: KeySource | None
) -> tuple[Path, str]:
    """Where a new run's best config goes: ``(vault, entry)``, checked before any work
    (:func:`tuner.engine.options.check_destination`)."""
    from tuner.engine.options import check_destination as check

    return check(options.vault, options.entry, run_dir, key)
