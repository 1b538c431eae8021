"""The run engine: one sealed run folder for any objective.

:func:`start_run` and :func:`resume_run` own everything a run leaves on disk
(:mod:`tuner.engine.folder` describes the layout and writes it): the sealed
journal, the vault entry, ``run.json`` and its status, the best trial's artifacts
in ``best/``, the optional plaintext export. What is tuned is a :class:`RunTarget`:
the built-in detector trainer (:mod:`tuner.objectives.detector`), a Python
function or a command (:mod:`tuner.objectives.target`). The target names the
objective and says what its best artifacts and vault record hold; the engine does
the rest the same way for all.

A new run is checked whole before its key is made (:class:`PreparedRun`), then
started with the key. Workers receive trial configs but never a key: results come
back to this process, which seals them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tuner.engine.checkpoint import load_journal, read_run_journal, tuning_result_for
from tuner.engine.folder import (
    BEST_DIR,
    JOURNAL_FILE,
    check_run_dir,
    created_run_dir,
    export_run,
    journal_start,
    now,
    read_run_file,
    run_summary,
    run_vault_path,
    set_status,
    write_best_metrics,
    write_run_file,
)
from tuner.engine.options import check_destination, check_run_options
from tuner.errors import ConfigError
from tuner.outputs import folder_name
from tuner.progress import Progress
from tuner.search.study import Study, StudyResult, StudySettings, StudyState, trials_frame
from tuner.search.trial import FAILED, OK, Objective, TrialResult, masked_reason

if TYPE_CHECKING:
    import pandas as pd

    from tuner.search.space import SearchSpace
    from tuner.vault import KeySource

__all__ = [
    "FAILING_TRIALS",
    "ObjectiveFailingError",
    "PreparedRun",
    "RunTarget",
    "TuneOutcome",
    "check_destination",
    "check_run_options",
    "export_run",
    "load_journal",
    "load_results",
    "resume_run",
    "run_summary",
    "start_run",
    "tuning_result_for",
    "write_run_file",
]

#: A run whose first trials all failed stops after this many (objectives and commands).
FAILING_TRIALS = 3


class RunTarget:
    """What a run tunes, as the engine needs it (the base of every target).

    ``options`` carries the run's non-secret settings: at least those of
    :class:`~tuner.engine.options.RunOptions`. A target builds the objective its
    trials call, and says what its best artifacts and vault record hold.
    """

    kind: str
    options: Any
    #: Stop the run when its first FAILING_TRIALS trials all fail (a broken objective).
    stop_when_failing: bool
    #: The ``type`` of the journal record :meth:`header` writes; :func:`resume_run` finds
    #: the class that reads it back (:meth:`from_header`) by it.
    record_type: ClassVar[str] = ""
    _by_record_type: ClassVar[dict[str, type[RunTarget]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.record_type:
            RunTarget._by_record_type[cls.record_type] = cls

    @classmethod
    def from_header(
        cls, record: dict[str, Any], function: Callable[..., Any] | None = None
    ) -> RunTarget:
        """The target a journal's record describes (``function``: a Python objective that
        cannot be imported by name)."""
        raise NotImplementedError

    def header(self) -> dict[str, Any]:
        """The journal record (sealed) from which :func:`resume_run` rebuilds the target."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """``run.json``'s fields about what is tuned (plaintext: never a searched value)."""
        raise NotImplementedError

    def check(self) -> None:
        """Check, before a resumed run's first trial, that what it needs is still there."""
        raise NotImplementedError

    def trial_objective(self) -> Objective:
        """The picklable objective each trial calls (in a worker)."""
        raise NotImplementedError

    def study(
        self,
        settings: StudySettings,
        space: SearchSpace,
        journal: Any,
        replay: list[dict[str, Any]] | None,
    ) -> Study:
        """A study of this target's objective on the run's executor and devices (it starts
        the executor)."""
        from tuner.search.executors import make_executor, slot_devices

        options = self.options
        executor = make_executor(options.executor, options.workers)
        per_gpu = getattr(options, "trials_per_gpu", 1)
        devices, threads = slot_devices(executor.slots, per_gpu, options.device)
        return Study(
            self.trial_objective(),
            space,
            settings,
            executor=executor,
            journal=journal,
            devices=devices,
            threads=threads,
            replay=replay,
        )

    def write_best(self, best_dir: Path, artifacts: dict[str, Any], trial: TrialResult) -> bool:
        """Write a new best trial's artifacts to ``best_dir``; False when it left none."""
        raise NotImplementedError

    def best_warnings(self, best_dir: Path, trial: TrialResult) -> list[str]:
        """Warnings about what ``best_dir`` holds (e.g. a searched value in plaintext)."""
        return []

    def vault_fields(self, best: TrialResult | None, best_dir: Path) -> dict[str, Any]:
        """The vault entry's fields about the objective and its best trial."""
        raise NotImplementedError

    def with_options(self, **changes: Any) -> RunTarget:
        """A copy with some ``options`` replaced (a resumed run's budget, export)."""
        return replace(self, options=replace(self.options, **changes))  # type: ignore[type-var]


@dataclass
class TuneOutcome:
    """A finished (or resumed and finished) tuning run."""

    run_dir: Path
    result: StudyResult
    vault: Path
    entry: str
    exported: Path | None = None  # the PLAINTEXT export folder, when asked for
    warnings: list[str] = field(default_factory=list)
    kind: str = "detector"  # the target's: detector, python or command

    @property
    def best(self) -> TrialResult | None:
        return self.result.best

    @property
    def default(self) -> TrialResult | None:
        return self.result.default_trial


class ObjectiveFailingError(ConfigError):
    """The first trials of a run all failed: the objective (or command) itself is broken."""


@dataclass(frozen=True)
class PreparedRun:
    """A new run checked whole (options, run folder, entry name) and not started yet.

    :meth:`start` takes the key: the caller may make one (ask for a passphrase) in
    between, knowing the options are good.
    """

    target: RunTarget
    space: SearchSpace
    run_dir: Path

    @classmethod
    def checked(
        cls, run_dir: Path, prepare: Callable[[], tuple[RunTarget, SearchSpace]]
    ) -> PreparedRun:
        """Check ``run_dir`` first (it costs nothing), then ``prepare()`` the target and its
        space (which may load data), then the destination's name and folder."""
        run_dir = Path(run_dir)
        check_run_dir(run_dir)
        target, space = prepare()
        prepared = cls(target, space, run_dir)
        prepared.destination(None)
        return prepared

    def destination(self, key: KeySource | None) -> tuple[Path, str]:
        """``(vault, entry)`` of the best config, checked with ``key`` when given
        (:func:`~tuner.engine.options.check_destination`)."""
        options = self.target.options
        return check_destination(options.vault, options.entry, self.run_dir, key)

    def warmed(self, key: KeySource) -> PreparedRun:
        """This run with its ``warm_start`` runs read (with ``key``, which must read them) and
        their best configs in its settings, to be sealed in its journal; nothing is written.
        Without ``warm_start`` (or once warmed), this run itself.

        Raises:
            ConfigError, WrongKeyError: a folder that is not a run's, a key that does not
                open one (:func:`~tuner.engine.warm.read_warm_start`).
        """
        from tuner.engine.warm import read_warm_start

        options = self.target.options
        if not options.warm_start:
            return self
        s = options.settings
        warm = read_warm_start(options.warm_start, key, self.space, s.budget)
        settings = replace(s, enqueued=warm.configs, warm_start_runs=warm.runs)
        target = self.target.with_options(settings=settings, warm_start=())
        return replace(self, target=target)

    def start(self, key: KeySource, *, progress: Progress | None = None) -> TuneOutcome:
        """Check the vault and entry with ``key``, read the warm-start runs with it
        (:meth:`warmed`), then run the search (:func:`start_run`)."""
        vault_path, entry = self.destination(key)
        warm = self.warmed(key)
        return start_run(
            warm.target, warm.space, key, warm.run_dir, vault_path, entry, progress=progress
        )


def start_run(
    target: RunTarget,
    space: SearchSpace,
    key: KeySource,
    run_dir: Path,
    vault_path: Path,
    entry: str,
    *,
    progress: Progress | None = None,
) -> TuneOutcome:
    """Run a new search of ``target`` over ``space``, everything sealed with ``key``.

    The caller has checked the options, ``run_dir`` and the destination
    (:class:`PreparedRun` does); the folder is created here, and removed again if
    an error escapes while it is still empty.
    """
    from tuner.vault import SealedJournal

    settings = target.options.settings
    with created_run_dir(run_dir):
        _ensure_vault(vault_path, key)
        write_run_file(run_dir, target, vault_path, entry, status="running")
        with SealedJournal.create(run_dir / JOURNAL_FILE, key) as journal:
            study = _started(run_dir, lambda: target.study(settings, space, journal, None))
            journal.append(target.header())
            result = _run(study, run_dir, target, progress)
            checkpoint = journal.checkpoint()
    return _finish(run_dir, target, result, key, vault_path, entry, checkpoint)


def resume_run(
    run_dir: Path,
    key: KeySource,
    *,
    repair: bool = False,
    budget: int | None = None,
    export: bool = False,
    progress: Progress | None = None,
    objective: Callable[..., Any] | None = None,
) -> TuneOutcome:
    """Continue a run: replay its sealed journal into a fresh optimizer, then finish the budget.

    The run's time (``seconds`` in its summary) adds this session's to that of
    the sessions that finished before.

    Args:
        run_dir: The run folder.
        key: The key the run was sealed with (one that can read).
        repair: Drop a torn last journal record (a crash mid-write) instead of stopping.
        budget: A new, larger total budget.
        export: Also write the plaintext export (as a run started with ``export=True`` does).
        progress: Receives one step per finished trial (e.g. a progress bar).
        objective: For a run of a Python function that cannot be imported by name
            (defined in a notebook): the function itself.

    Raises:
        JournalTornTailError: The journal ends in a torn record and ``repair`` is False.
    """
    from tuner.search.space import parse_space
    from tuner.vault import SealedJournal

    run_dir = Path(run_dir)
    info = read_run_file(run_dir)
    vault_path = _resumed_vault(run_dir, info, key)
    with SealedJournal.open(run_dir / JOURNAL_FILE, key) as journal:
        if repair:
            journal.repair()
        records = read_run_journal(journal, run_dir, key)
        header, target = _header(records, run_dir, objective)
        settings = StudySettings.from_dict(header["settings"])
        if budget is not None:
            settings = replace(settings, budget=_checked_budget(budget, records))
        space = parse_space(header["space"], where="journal", detector=target.kind == "detector")
        target = target.with_options(settings=settings, export=target.options.export or export)
        target.check()  # before any worker starts, as a new run does
        study = _started(run_dir, lambda: target.study(settings, space, journal, records))
        entry = str(info["entry"])
        earlier = float((info.get("summary") or {}).get("seconds") or 0.0)
        write_run_file(run_dir, target, vault_path, entry, status="running")
        result = _run(study, run_dir, target, progress)
        result.seconds += earlier
        checkpoint = journal.checkpoint()
    return _finish(run_dir, target, result, key, vault_path, entry, checkpoint)


def _checked_budget(budget: int, records: list[dict[str, Any]]) -> int:
    finished = len([r for r in records if r.get("type") == "trial"])
    if budget < 1:
        raise ConfigError("--budget must be 1 or more")
    if budget < finished:
        raise ConfigError(
            f"--budget {budget} is below the {finished} trials this run has finished"
            f" (--budget is the total); give {finished} or more"
        )
    return budget


def _header(
    records: list[dict[str, Any]], run_dir: Path, objective: Callable[..., Any] | None
) -> tuple[dict[str, Any], RunTarget]:
    """The journal's ``run`` record and the target its second record describes."""
    start = journal_start(records)
    if start is None:
        raise ConfigError(f"{run_dir}: the journal does not start like a tuning run's")
    header, record = start
    reader = RunTarget._by_record_type.get(str(record.get("type")))
    if reader is None:  # the targets register on import: tuner.tune imports them all
        raise ConfigError(f"{run_dir}: resume this run with tuner.resume_run")
    return header, reader.from_header(record, objective)


# -- reading a run back --------------------------------------------------------------------


def load_results(run_dir: Path, key: KeySource | str) -> pd.DataFrame:
    """One row per finished trial of a run: params, fitness, metrics, status, epochs, seconds.

    Args:
        run_dir: The run folder.
        key: The run's key, or its passphrase as a string.
    """
    from tuner.vault import Passphrase

    if isinstance(key, str):
        key = Passphrase(key)
    records = load_journal(run_dir, key)
    trials = [TrialResult.from_record(r) for r in records if r.get("type") == "trial"]
    return trials_frame(trials)


def _resumed_vault(run_dir: Path, info: dict[str, Any], key: KeySource) -> Path:
    """A resumed run's vault, checked to exist and open with ``key`` before any trial runs."""
    from tuner.vault import Vault

    vault = run_vault_path(run_dir, info)
    if vault is None or not vault.is_file():
        raise ConfigError(
            f"{run_dir}: the run's vault {vault} is missing; restore it (or the run's folder)"
            " before resuming"
        )
    Vault.open(vault, key)
    return vault


# -- running -------------------------------------------------------------------------------


def _started(run_dir: Path, start: Callable[[], Study]) -> Study:
    """``start()`` (which starts the executor); if it fails, the run is marked interrupted
    (``--resume`` goes on from there) before the error goes up."""
    try:
        return start()
    except BaseException:
        set_status(run_dir, "interrupted")
        raise


def _run(study: Study, run_dir: Path, target: RunTarget, progress: Progress | None) -> StudyResult:
    best_dir = run_dir / BEST_DIR

    def keep_best(result: TrialResult, state: StudyState) -> None:
        artifacts, result.artifacts = result.artifacts, {}  # a run holds one best at most
        new_best = result.status == OK and state.best is result and artifacts
        if new_best and target.write_best(best_dir, artifacts, result):
            write_best_metrics(best_dir, result)
        if target.stop_when_failing:
            _stop_if_failing(state.trials)

    try:
        return study.run(progress=progress, on_trial=keep_best)
    except BaseException:
        set_status(run_dir, "interrupted")
        raise


def _stop_if_failing(trials: list[TrialResult]) -> None:
    """Raise when the first FAILING_TRIALS trials all failed (counted once, at that point)."""
    if len(trials) != FAILING_TRIALS or any(t.status != FAILED for t in trials):
        return
    last = sorted(trials, key=lambda t: t.number)[-1]
    raise ObjectiveFailingError(
        f"the first {FAILING_TRIALS} trials all failed, the last with: "
        f"{masked_reason(last.error or 'no reason given')}; fix the objective or command, then"
        " start a new run (or --resume this one to keep going)"
    )


def _finish(
    run_dir: Path,
    target: RunTarget,
    result: StudyResult,
    key: KeySource,
    vault_path: Path,
    entry: str,
    checkpoint: Any,
) -> TuneOutcome:
    from tuner.vault import Vault

    best = result.best
    document: dict[str, Any] = {
        "kind": "tuning-result",
        "run": folder_name(run_dir),
        "saved_at": now(),
        "journal": checkpoint.to_dict(),
        **target.vault_fields(best, run_dir / BEST_DIR),
        "frozen": result.frozen,
    }
    if best is not None:
        document.update(metrics=best.metrics, fitness=best.fitness, trial=best.number)
        document.setdefault("config", dict(best.params))
    vault = Vault.open(vault_path, key)
    vault.put(entry, document)
    best_dir = run_dir / BEST_DIR
    warnings = target.best_warnings(best_dir, best) if best and best_dir.is_dir() else []
    summary = run_summary(result)
    if warnings:
        summary["warnings"] = list(warnings)
    write_run_file(run_dir, target, vault_path, entry, status="finished", summary=summary)
    exported = export_run(run_dir, result) if target.options.export else None
    return TuneOutcome(run_dir, result, vault_path, entry, exported, list(warnings), target.kind)


def _ensure_vault(path: Path, key: KeySource) -> None:
    from tuner.vault import Vault

    if path.exists():
        Vault.open(path, key)  # checks the key now, not after an hour of tuning
    else:
        Vault.create(path, key)
