"""The run engine: one sealed run folder for any objective.

:func:`start_run` and :func:`resume_run` own everything a run leaves on disk
(``tuner.engine.folder`` describes the layout): the sealed journal, the vault
entry, ``run.json`` and its status, the best trial's artifacts in ``best/``,
the optional plaintext export. What is tuned is a :class:`RunTarget`: the
built-in detector trainer (``tuner.tune``), a Python function or a command
(``tuner.objectives``). The target builds the study and says what its best
artifacts and vault record hold; the engine does the rest the same way for all.

Workers receive trial configs but never a key: results come back to this
process, which seals them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tuner.engine.folder import (
    BEST_DIR,
    EXPORT_DIR,
    JOURNAL_FILE,
    RUN_FILE,
    RUN_FORMAT,
    VAULT_FILE,
    now,
    read_run_file,
    run_vault_path,
    set_status,
    stored_vault,
    try_read,
    write_json,
)
from tuner.errors import ConfigError
from tuner.outputs import folder_name
from tuner.plaintext import allowed_only, public_metrics
from tuner.progress import Progress
from tuner.search.study import Study, StudyResult, StudySettings, StudyState, trials_frame
from tuner.search.trial import FAILED, OK, TrialResult, masked_reason

if TYPE_CHECKING:
    import pandas as pd

    from tuner.search.space import SearchSpace
    from tuner.vault import KeySource

#: A run whose first trials all failed stops after this many (objectives and commands).
FAILING_TRIALS = 3


class RunTarget(Protocol):
    """What a run tunes, as the engine needs it.

    ``options`` carries the run's non-secret settings: at least ``settings``
    (:class:`StudySettings`), ``workers``, ``executor``, ``vault``, ``entry`` and ``export``.
    """

    kind: str
    options: Any
    #: Stop the run when its first FAILING_TRIALS trials all fail (a broken objective).
    stop_when_failing: bool

    def header(self) -> dict[str, Any]:
        """The journal record (sealed) from which :func:`resume_run` rebuilds the target."""
        ...

    def describe(self) -> dict[str, Any]:
        """``run.json``'s fields about what is tuned (plaintext: never a searched value)."""
        ...

    def check(self) -> None:
        """Check, before a resumed run's first trial, that what it needs is still there."""
        ...

    def study(
        self,
        settings: StudySettings,
        space: SearchSpace,
        journal: Any,
        replay: list[dict[str, Any]] | None,
    ) -> Study:
        """A study of this objective (it starts the executor)."""
        ...

    def write_best(self, best_dir: Path, artifacts: dict[str, Any], trial: TrialResult) -> bool:
        """Write a new best trial's artifacts to ``best_dir``; False when it left none."""
        ...

    def best_warnings(self, best_dir: Path, trial: TrialResult) -> list[str]:
        """Warnings about what ``best_dir`` holds (e.g. a searched value in plaintext)."""
        ...

    def vault_fields(self, best: TrialResult | None, best_dir: Path) -> dict[str, Any]:
        """The vault entry's fields about the objective and its best trial."""
        ...

    def with_options(self, **changes: Any) -> RunTarget:
        """A copy with some ``options`` replaced (a resumed run's budget, export)."""
        ...


@dataclass
class TuneOutcome:
    """A finished (or resumed and finished) tuning run."""

    run_dir: Path
    result: StudyResult
    vault: Path
    entry: str
    exported: Path | None = None  # the PLAINTEXT export folder, when asked for
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> TrialResult | None:
        return self.result.best

    @property
    def default(self) -> TrialResult | None:
        return self.result.default_trial


class ObjectiveFailingError(ConfigError):
    """The first trials of a run all failed: the objective (or command) itself is broken."""


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
    (:func:`check_destination`); the folder is created here, and removed again if
    an error escapes while it is still empty.
    """
    from tuner.engine.folder import created_run_dir
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
    from tuner.run_checkpoint import read_run_journal
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
    kind = records[1].get("type") if len(records) >= 2 else None
    if len(records) < 2 or records[0].get("type") != "run" or kind not in ("detector", "objective"):
        raise ConfigError(f"{run_dir}: the journal does not start like a tuning run's")
    if kind == "detector":
        from tuner.tune import DetectorTarget

        return records[0], DetectorTarget.from_header(records[1])
    from tuner.objectives.target import ObjectiveTarget

    return records[0], ObjectiveTarget.from_header(records[1], objective)


def check_destination(
    vault: Path | None, entry: str | None, run_dir: Path, key: KeySource | None
) -> tuple[Path, str]:
    """Where a new run's best config goes: ``(vault, entry)``, checked before any work.

    The entry must be a valid name the vault (when it exists) does not hold yet, opening
    an existing vault checks ``key``, and a new vault's folder must exist. With ``key``
    None, only what needs no key is checked (the name, the folder).

    Raises:
        ConfigError: a bad or taken entry name, or no folder for a new ``--vault``.
        and the vault's errors (a wrong key, a damaged vault).
    """
    vault_path = Path(vault) if vault else Path(run_dir) / VAULT_FILE
    entry = entry or folder_name(run_dir)
    if vault and not vault_path.exists() and not vault_path.parent.is_dir():
        raise ConfigError(
            f"--vault {vault_path}: there is no folder {vault_path.parent} to create it in;"
            " create the folder or choose another --vault"
        )
    _check_new_entry(vault_path, entry, key)
    return vault_path, entry


def _check_new_entry(vault_path: Path, entry: str, key: KeySource | None) -> None:
    """A new run's entry: a valid name, and not one the vault (when it exists) already holds.

    Opening an existing vault here also checks the key before anything is written.
    """
    from tuner.vault import Vault
    from tuner.vault.codec import NAME_RE, NAME_RULE

    if NAME_RE.fullmatch(entry) is None:
        raise ConfigError(
            f"vault entry name {entry!r} (--entry, default the run folder's name) is not valid:"
            f" use {NAME_RULE}"
        )
    if key is None or not vault_path.exists():
        return
    vault = Vault.open(vault_path, key)
    if vault.can_read and entry in vault:
        raise ConfigError(
            f"vault {vault_path} already has an entry {entry!r}; pick another --entry"
            " (or --resume the run that wrote it)"
        )


def check_run_options(options: Any, space: SearchSpace, *, slots_devices: bool = True) -> None:
    """Check what every run has: pruner, workers, optimizer, executor (and devices).

    Raises:
        ConfigError: the first problem found, in one line.
    """
    from tuner.search.executors import check_executor, slot_devices
    from tuner.search.optimizers import check_optimizer
    from tuner.search.pruning import Pruner

    s = options.settings
    Pruner(s.pruner, s.max_epochs, s.reduction, s.min_epochs)
    if options.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    if getattr(options, "trials_per_gpu", 1) < 1:
        raise ConfigError("--trials-per-gpu must be 1 or more")
    check_optimizer(s.optimizer, space.parametrization(seed=s.seed), s.budget, options.workers,
                    s.optimizer_options)  # fmt: skip
    if slots_devices:
        slot_devices(options.workers, getattr(options, "trials_per_gpu", 1), options.device)
    check_executor(options.executor)


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


def load_journal(run_dir: Path, key: KeySource) -> list[dict[str, Any]]:
    """Every record of a run's sealed journal (settings, space, objective, trials, freezes).

    The journal must end with its authenticated end, and hold every record the
    checkpoint in the run's vault counted (:mod:`tuner.run_checkpoint`, which fails
    closed on a missing or foreign vault).
    """
    from tuner.run_checkpoint import read_run_journal
    from tuner.vault import SealedJournal

    run_dir = Path(run_dir)
    journal = SealedJournal.open(run_dir / JOURNAL_FILE, key, writable=False)
    try:
        return read_run_journal(journal, run_dir, key)
    finally:
        journal.close()


def tuning_result_for(vault: Any, journal_id: str, *, first: str = "") -> Any:
    """``(entry, checkpoint)`` of the tuning result in ``vault`` (open, readable) whose
    journal checkpoint names journal ``journal_id``, or None; entry ``first`` is tried first.

    Raises:
        WrongKeyError: the vault was opened with a key that cannot read.
    """
    from tuner.vault import DocumentError, JournalCheckpoint

    for name in sorted(vault.names(), key=lambda n: n != first):
        document = vault.get(name)
        if not isinstance(document, dict) or document.get("kind") != "tuning-result":
            continue
        try:
            checkpoint = JournalCheckpoint.from_dict(document.get("journal"))
        except DocumentError:
            continue
        if checkpoint.journal_id == journal_id:
            return name, checkpoint
    return None


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
            metrics = {"trial": result.number, "fitness": result.fitness,
                       **public_metrics(result.metrics, result.params)}  # fmt: skip
            write_json(best_dir / "metrics.json", metrics, "best metrics.json")
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
    return TuneOutcome(run_dir, result, vault_path, entry, exported, list(warnings))


def export_run(run_dir: Path, result: StudyResult) -> Path:
    """Write the best config (YAML) and the trial table (CSV) in plaintext, on request.

    The folder is made 0700 and the files 0600 (atomic writes), as ``hyperseal
    vault export`` writes them.
    """
    import yaml

    from tuner.engine.folder import write_bytes

    out = run_dir / EXPORT_DIR
    out.mkdir(mode=0o700, exist_ok=True)
    os.chmod(out, 0o700)
    if result.best is not None:
        config = yaml.safe_dump(result.best.params, sort_keys=False)
        write_bytes(out / "best_config.yaml", config.encode("utf-8"))
    table = result.frame().drop(columns=["curve"]).to_csv(index=False)
    write_bytes(out / "trials.csv", table.encode("utf-8"))
    return out


def run_summary(result: StudyResult) -> dict[str, Any]:
    """``run.json``'s summary of a finished search (no hyperparameter value)."""
    statuses = [t.status for t in result.trials]
    best, default = result.best, result.default_trial
    return {
        "trials": len(result.trials),
        "ok": statuses.count("ok"),
        "pruned": statuses.count("pruned"),
        "failed": statuses.count("failed"),
        "best_trial": best.number if best else None,
        "best_fitness": best.fitness if best else None,
        "best_metrics": public_metrics(best.metrics, best.params) if best else None,
        "default_fitness": default.fitness if default else None,
        "epochs_saved": result.epochs_saved,
        "epochs_run": sum(t.epochs_run for t in result.trials),
        "duplicates_avoided": result.duplicates_avoided,
        "seconds": round(result.seconds, 1),
        "frozen": sorted(result.frozen),
        "importance": (
            result.importance.to_dict("records") if result.importance is not None else None
        ),
        # Masked: the plaintext file must not quote a value (the journal has the whole reason).
        "failures": [
            {"trial": t.number, "error": masked_reason(t.error)} for t in result.trials if t.error
        ],
    }


def write_run_file(
    run_dir: Path,
    target: RunTarget,
    vault: Path,
    entry: str,
    *,
    status: str,
    summary: dict[str, Any] | None = None,
) -> None:
    """Write ``run.json``: what is tuned, how, where its results are, and its status."""
    options = target.options
    s = options.settings
    info = {
        "format": RUN_FORMAT,
        "status": status,
        "updated_at": now(),
        **target.describe(),
        "optimizer": s.optimizer,
        "budget": s.budget,
        "epochs": s.max_epochs,
        "pruner": s.pruner,
        "fitness": s.fitness,
        "freeze_unimportant": s.freeze_unimportant,
        "workers": options.workers,
        "executor": options.executor,
        "journal": JOURNAL_FILE,
        **stored_vault(run_dir, vault),
        "entry": entry,
        "best_model": BEST_DIR,
    }
    if s.direction != "maximize":
        info["direction"] = s.direction
    if summary is not None:
        info["summary"] = summary
    else:
        old = try_read(run_dir / RUN_FILE)
        if old and "summary" in old:  # as read back: only the fields hyperseal writes
            info["summary"] = allowed_only(RUN_FILE, {"summary": old["summary"]}).get("summary")
    write_json(run_dir / RUN_FILE, info, RUN_FILE)  # checked: tuner.plaintext


def _ensure_vault(path: Path, key: KeySource) -> None:
    from tuner.vault import Vault

    if path.exists():
        Vault.open(path, key)  # checks the key now, not after an hour of tuning
    else:
        Vault.create(path, key)
