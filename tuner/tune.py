"""``tune_run``, ``resume_run`` and ``load_results``: detector tuning with everything sealed.

A run folder holds::

    RUN_DIR/
      run.json            what was run (data, model, optimizer, budget) and a
                          summary (counts, best and default fitness, importances);
                          never a hyperparameter value
      journal.hsj         sealed journal: the run's settings and search space,
                          then one record per finished trial (and freezes)
      vault.hsv           sealed vault (unless --vault names another): the best
                          config, its metrics, the weights' hash, a journal checkpoint
      best/               weights.safetensors + manifest.json (+ metrics.json)
                          of the best trial: architecture only
      export/             only with export=True: best_config.yaml and trials.csv,
                          plaintext, because the user asked for it

Workers receive trial configs but never a key: results come back to this
process, which seals them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.errors import ConfigError
from tuner.outputs import folder_name
from tuner.progress import Progress
from tuner.search.detector_objective import DataRef, DetectorObjective
from tuner.search.space import SearchSpace, default_space, parse_space
from tuner.search.study import Study, StudyResult, StudySettings, StudyState, trials_frame
from tuner.search.trial import OK, TrialResult, masked_reason

if TYPE_CHECKING:
    import pandas as pd

    from tuner.detectors import ModelSpec
    from tuner.vault import KeySource

RUN_FORMAT = "hyperseal-run/1"
RUN_FILE = "run.json"
JOURNAL_FILE = "journal.hsj"
VAULT_FILE = "vault.hsv"
BEST_DIR = "best"
EXPORT_DIR = "export"


@dataclass(frozen=True)
class TuneOptions:
    """What to tune and how (the non-secret settings of a run).

    Args:
        data: ``synthetic`` or a COCO folder.
        synthetic_images: Images of the synthetic scenes.
        synthetic_seed: Seed of the synthetic scenes.
        arch: Detector architecture.
        backbone: Detector backbone.
        image_size: Input size in pixels.
        epochs: Epochs of a full trial (fixed in the space).
        space_file: A YAML search space; the built-in detector space when None.
        settings: Optimizer, budget, pruning, freezing (default: those of
            ``hyperseal tune``, 20 trials).
        workers: Trials run at once.
        executor: ``local``, ``dask-local`` or ``dask://HOST:PORT``.
        trials_per_gpu: Trials packed on one GPU.
        device: Where trials train: ``auto`` (CUDA when present), ``cpu``, ``cuda``
            (every GPU) or ``cuda:N``.
        vault: Vault file for the best config (default ``RUN_DIR/vault.hsv``).
        entry: Vault entry name (default: the run folder's name).
        export: Also write the best config and the trial table in plaintext.
    """

    data: str = "synthetic"
    synthetic_images: int = 500
    synthetic_seed: int = 0
    arch: str = "fcos"
    backbone: str = "tiny"
    image_size: int = 128
    epochs: int = 4
    space_file: Path | None = None
    settings: StudySettings = field(default_factory=lambda: StudySettings(budget=20))
    workers: int = 1
    executor: str = "local"
    trials_per_gpu: int = 1
    device: str = "auto"
    vault: Path | None = None
    entry: str | None = None
    export: bool = False


@dataclass
class TuneOutcome:
    """A finished (or resumed and finished) tuning run."""

    run_dir: Path
    result: StudyResult
    vault: Path
    entry: str
    exported: Path | None = None  # the PLAINTEXT export folder, when asked for

    @property
    def best(self) -> TrialResult | None:
        return self.result.best

    @property
    def default(self) -> TrialResult | None:
        return self.result.default_trial


def new_run_dir(root: Path = Path("runs")) -> Path:
    """A fresh run folder name under ``root`` (``tune-YYYYmmdd-HHMMSS``)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = root / f"tune-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"tune-{stamp}-{n}"
    return path


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
    from tuner.vault import SealedJournal

    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    space = check_options(options)  # fail fast, before any file is written
    settings = replace(options.settings, max_epochs=options.epochs)
    vault_path, entry = check_destination(options, run_dir, key)
    with _created_run_dir(run_dir):
        _ensure_vault(vault_path, key)
        _write_run_file(run_dir, options, vault_path, entry, status="running")
        with SealedJournal.create(run_dir / JOURNAL_FILE, key) as journal:
            study = _started(run_dir, lambda: _study(options, settings, space, journal))
            journal.append({"type": "detector", "options": _plain_options(options)})
            result = _run(study, run_dir, options, progress)
            checkpoint = journal.checkpoint()
    return _finish(run_dir, options, result, key, vault_path, entry, checkpoint)


def check_run_dir(run_dir: Path) -> None:
    """Check that ``run_dir`` can hold a new run: an empty folder, or one that can be created.

    Raises:
        ConfigError: it is a file, holds files, or cannot be created or written.
    """
    from tuner.outputs import check_output_folder

    check_output_folder(
        run_dir, "run folder", if_not_empty="pick a new --out or continue it with --resume"
    )


@contextmanager
def _created_run_dir(run_dir: Path) -> Iterator[None]:
    """Create ``run_dir`` (and missing parents); remove those still empty if an error escapes."""
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]  # deepest first
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the run folder {run_dir} ({exc.strerror}); pick another --out"
        ) from None
    try:
        yield
    except BaseException:
        for folder in created:
            with suppress(OSError):
                folder.rmdir()  # only an empty one: nothing written is removed
        raise


def check_destination(
    options: TuneOptions, run_dir: Path, key: KeySource | None
) -> tuple[Path, str]:
    """Where a new run's best config goes: ``(vault, entry)``, checked before any work.

    The entry must be a valid name the vault (when it exists) does not hold yet, opening
    an existing vault checks ``key``, and a new vault's folder must exist. With ``key``
    None, only what needs no key is checked (the name, the folder).

    Raises:
        ConfigError: a bad or taken entry name, or no folder for a new ``--vault``.
        and the vault's errors (a wrong key, a damaged vault).
    """
    vault_path = Path(options.vault) if options.vault else Path(run_dir) / VAULT_FILE
    entry = options.entry or folder_name(run_dir)
    if options.vault and not vault_path.exists() and not vault_path.parent.is_dir():
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


def resume_run(
    run_dir: Path,
    key: KeySource,
    *,
    repair: bool = False,
    budget: int | None = None,
    export: bool = False,
    progress: Progress | None = None,
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

    Raises:
        JournalTornTailError: The journal ends in a torn record and ``repair`` is False.
    """
    from tuner.vault import SealedJournal

    run_dir = Path(run_dir)
    info = _read_run_file(run_dir)
    vault_path = _resumed_vault(run_dir, info, key)
    with SealedJournal.open(run_dir / JOURNAL_FILE, key) as journal:
        if repair:
            journal.repair()
        records = journal.read(expect=_checkpoint(run_dir, key, journal.journal_id))
        header, options = _header(records, run_dir)
        settings = StudySettings.from_dict(header["settings"])
        if budget is not None:
            finished = len([r for r in records if r.get("type") == "trial"])
            if budget < 1:
                raise ConfigError("--budget must be 1 or more")
            if budget < finished:
                raise ConfigError(
                    f"--budget {budget} is below the {finished} trials this run has finished"
                    f" (--budget is the total); give {finished} or more"
                )
            settings = replace(settings, budget=budget)
        space = parse_space(header["space"], where="journal")
        options = replace(options, settings=settings, export=options.export or export)
        _check_data(options)  # before any worker starts, as a new run does
        study = _started(run_dir, lambda: _study(options, settings, space, journal, replay=records))
        entry = str(info["entry"])
        earlier = float((info.get("summary") or {}).get("seconds") or 0.0)
        _write_run_file(run_dir, options, vault_path, entry, status="running")
        result = _run(study, run_dir, options, progress)
        result.seconds += earlier
        checkpoint = journal.checkpoint()
    return _finish(run_dir, options, result, key, vault_path, entry, checkpoint)


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
    """Every record of a run's sealed journal (settings, space, trials, freezes).

    When the run's vault entry holds a checkpoint of the journal, the journal
    must still hold every record it counted: cutting records off the end at a
    record boundary is detected, not only a torn record.
    """
    from tuner.vault import SealedJournal

    run_dir = Path(run_dir)
    journal = SealedJournal.open(run_dir / JOURNAL_FILE, key, writable=False)
    try:
        return journal.read(expect=_checkpoint(run_dir, key, journal.journal_id))
    finally:
        journal.close()


def _checkpoint(run_dir: Path, key: KeySource, journal_id: str) -> Any:
    """The checkpoint of journal ``journal_id`` stored in the run's vault, if there is one.

    The entry ``run.json`` names is tried first, then every other tuning result in the
    vault (``run.json`` is not authenticated: renaming its entry must not switch the check
    off). A vault this key cannot read, or one without the entry yet (a run that never
    finished), gives None; a damaged or tampered vault raises.
    """
    from tuner.vault import Vault, WrongKeyError

    info = _try_read(run_dir / RUN_FILE) or {}
    vault = run_vault_path(run_dir, info)
    if vault is None or not vault.exists():
        return None
    try:
        opened = Vault.open(vault, key)
        found = tuning_result_for(opened, journal_id, first=str(info.get("entry") or ""))
    except WrongKeyError:  # another key (or kind of key) seals it
        return None
    return found[1] if found is not None else None


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


def run_vault_path(run_dir: Path, info: dict[str, Any]) -> Path | None:
    """The vault a run's ``run.json`` (``info``) names, or None when it names none.

    ``run.json`` stores the vault relative to the run folder when it lies inside
    it (the default; marked by ``vault_relative_to``), so that a copied or moved
    run folder keeps using its own vault, and absolute otherwise. Older files
    stored a path relative to the directory the run started in: such a path is
    read in that old meaning, except that a run folder holding the default
    vault file uses its own (so resuming a copy never writes into the original's
    vault).
    """
    stored = info.get("vault")
    if not stored:
        return None
    path, run_dir = Path(str(stored)), Path(run_dir)
    if info.get("vault_relative_to") == "run" and not path.is_absolute():
        return run_dir / path
    own = run_dir / VAULT_FILE
    if path.name == VAULT_FILE and own.exists():
        return own  # an older run.json naming the run's default vault by another route
    return path


def _stored_vault(run_dir: Path, vault: Path) -> dict[str, str]:
    """``vault`` as ``run.json`` stores it: relative to the run folder inside it, else absolute."""
    resolved = Path(vault).resolve()
    try:
        inside = resolved.relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return {"vault": str(resolved)}
    return {"vault": inside, "vault_relative_to": "run"}


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


def check_options(options: TuneOptions) -> SearchSpace:
    """Validate every option (space, optimizer, pruner, executor, device, data, model).

    Returns the search space.

    Raises:
        ConfigError, DataError, ModelError: the first problem found, in one line.
    """
    from tuner.search.executors import check_executor, slot_devices
    from tuner.search.optimizers import check_optimizer
    from tuner.search.pruning import Pruner

    if options.epochs < 1:  # before the space, which fixes 'epochs' at this value
        raise ConfigError("--epochs must be 1 or more")
    space = _space(options)
    s = options.settings
    _check_fitness(s.fitness)
    Pruner(s.pruner, options.epochs, s.reduction, s.min_epochs)
    if options.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    if options.trials_per_gpu < 1:
        raise ConfigError("--trials-per-gpu must be 1 or more")
    check_optimizer(s.optimizer, space.parametrization(seed=s.seed), s.budget, options.workers,
                    s.optimizer_options)  # fmt: skip
    slot_devices(options.workers, options.trials_per_gpu, options.device)
    check_executor(options.executor)
    _check_data(options)
    return space


# -- internals ---------------------------------------------------------------------------


def _space(options: TuneOptions) -> SearchSpace:
    from tuner.search.space import load_space

    space = load_space(options.space_file) if options.space_file else default_space(options.epochs)
    if "epochs" in space.names:
        epochs = space["epochs"]
        if epochs.kind != "fixed":
            raise ConfigError(f"{space.where}: 'epochs' must be fixed; set it with --epochs")
        space = space.freeze({"epochs": options.epochs})
    else:
        space = parse_space(
            {**{p.name: p.to_spec() for p in space.params},
             "epochs": {"type": "fixed", "value": options.epochs}},
            where=space.where,
        )  # fmt: skip
    return space


def _check_fitness(fitness: str) -> None:
    """Every metric of ``fitness`` is one the detector's evaluation reports."""
    from tuner.evaluate import METRICS
    from tuner.search.fitness import Fitness

    unknown = [name for name in Fitness.parse(fitness).metrics if name not in METRICS]
    if unknown:
        raise ConfigError(
            f"--fitness {fitness!r}: no metric {unknown[0]!r}; the detector reports"
            f" {', '.join(METRICS)}, e.g. '0.1*mAP50+0.9*mAP'"
        )


def _check_data(options: TuneOptions) -> ModelSpec:
    """Load and check the dataset; the model it gives (its classes) is checked too."""
    from tuner.data.resolve import resolve_data
    from tuner.detectors import ModelSpec

    splits = resolve_data(options.data, images=options.synthetic_images, size=options.image_size,
                          seed=options.synthetic_seed)  # fmt: skip
    return ModelSpec(options.arch, options.backbone, options.image_size, tuple(splits.class_names))


def _objective(options: TuneOptions) -> DetectorObjective:
    ref = DataRef(  # check_options opened every image already: workers need not again
        options.data,
        options.synthetic_images,
        options.image_size,
        options.synthetic_seed,
        check_images=False,
    )
    return DetectorObjective(ref, options.arch, options.backbone, options.image_size)


def _study(
    options: TuneOptions,
    settings: StudySettings,
    space: SearchSpace,
    journal: Any,
    replay: list[dict[str, Any]] | None = None,
) -> Study:
    from tuner.search.executors import make_executor, slot_devices

    executor = make_executor(options.executor, options.workers)
    devices, threads = slot_devices(executor.slots, options.trials_per_gpu, options.device)
    return Study(_objective(options), space, settings, executor=executor, journal=journal,
                 devices=devices, threads=threads, replay=replay)  # fmt: skip


def _started(run_dir: Path, start: Callable[[], Study]) -> Study:
    """``start()`` (which starts the executor); if it fails, the run is marked interrupted
    (``--resume`` goes on from there) before the error goes up."""
    try:
        return start()
    except BaseException:
        _set_status(run_dir, "interrupted")
        raise


def _run(study: Study, run_dir: Path, options: TuneOptions, progress: Progress | None) -> Any:
    best_dir = run_dir / BEST_DIR
    spec = _check_data(options)  # once, not at every new best (the data is checked already)

    def keep_best(result: TrialResult, state: StudyState) -> None:
        weights = result.artifacts.pop("weights", None)  # a run holds one model at most
        if result.status != OK or weights is None or state.best is not result:
            return
        _write_best(best_dir, weights, result, spec)

    try:
        return study.run(progress=progress, on_trial=keep_best)
    except BaseException:
        _set_status(run_dir, "interrupted")
        raise


def _write_best(best_dir: Path, weights: bytes, trial: TrialResult, spec: ModelSpec) -> None:
    from tuner.release import write_release_bytes

    write_release_bytes(weights, spec, best_dir)
    metrics = {"trial": trial.number, "fitness": trial.fitness, **trial.metrics}
    _atomic_text(best_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def _finish(
    run_dir: Path,
    options: TuneOptions,
    result: StudyResult,
    key: KeySource,
    vault_path: Path,
    entry: str,
    checkpoint: Any,
) -> TuneOutcome:
    from tuner.release import read_manifest
    from tuner.vault import Vault

    best = result.best
    document: dict[str, Any] = {
        "kind": "tuning-result",
        "run": folder_name(run_dir),
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "journal": checkpoint.to_dict(),
        "dataset_fingerprint": dataset_fingerprint(options),
        "model": {"arch": options.arch, "backbone": options.backbone,
                  "image_size": options.image_size},
        "frozen": result.frozen,
    }  # fmt: skip
    if best is not None:
        from tuner.train import TrainConfig

        document.update(
            # The whole recipe (every TrainConfig field), not only the searched ones.
            config=TrainConfig.from_dict(best.params, where="best trial").to_dict(),
            metrics=best.metrics,
            fitness=best.fitness,
            trial=best.number,
        )
        best_dir = run_dir / BEST_DIR
        if (best_dir / "manifest.json").exists():
            document["weights_sha256"] = read_manifest(best_dir)["weights_sha256"]
    vault = Vault.open(vault_path, key)
    vault.put(entry, document)
    summary = _summary(result)
    _write_run_file(run_dir, options, vault_path, entry, status="finished", summary=summary)
    exported = export_run(run_dir, result) if options.export else None
    return TuneOutcome(run_dir, result, vault_path, entry, exported)


def export_run(run_dir: Path, result: StudyResult) -> Path:
    """Write the best config (YAML) and the trial table (CSV) in plaintext, on request.

    The folder is made 0700 and the files 0600 (atomic writes), as ``hyperseal
    vault export`` writes them.
    """
    import yaml

    from tuner.vault.atomic import atomic_write

    out = run_dir / EXPORT_DIR
    out.mkdir(mode=0o700, exist_ok=True)
    os.chmod(out, 0o700)
    if result.best is not None:
        config = yaml.safe_dump(result.best.params, sort_keys=False)
        atomic_write(out / "best_config.yaml", config.encode("utf-8"))
    table = result.frame().drop(columns=["curve"]).to_csv(index=False)
    atomic_write(out / "trials.csv", table.encode("utf-8"))
    return out


def _summary(result: StudyResult) -> dict[str, Any]:
    statuses = [t.status for t in result.trials]
    best, default = result.best, result.default_trial
    return {
        "trials": len(result.trials),
        "ok": statuses.count("ok"),
        "pruned": statuses.count("pruned"),
        "failed": statuses.count("failed"),
        "best_trial": best.number if best else None,
        "best_fitness": best.fitness if best else None,
        "best_metrics": best.metrics if best else None,
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


def dataset_fingerprint(options: TuneOptions) -> str:
    """SHA-256 over the dataset's annotation files (identifies the data a recipe was tuned on)."""
    from tuner.data.resolve import resolve_data

    splits = resolve_data(options.data, images=options.synthetic_images, size=options.image_size,
                          seed=options.synthetic_seed)  # fmt: skip
    digest = hashlib.sha256()
    for split in (splits.train, splits.val):
        digest.update(Path(split.annotation_file).read_bytes())
    return digest.hexdigest()


def _plain_options(options: TuneOptions) -> dict[str, Any]:
    data = asdict(options)
    data.pop("settings")
    data["space_file"] = str(options.space_file) if options.space_file else None
    data["vault"] = str(options.vault) if options.vault else None
    return data


def _header(records: list[dict[str, Any]], run_dir: Path) -> tuple[dict[str, Any], TuneOptions]:
    if len(records) < 2 or records[0].get("type") != "run" or records[1].get("type") != "detector":
        raise ConfigError(f"{run_dir}: the journal does not start like a tuning run's")
    opts = dict(records[1]["options"])
    opts["space_file"] = Path(opts["space_file"]) if opts.get("space_file") else None
    opts["vault"] = Path(opts["vault"]) if opts.get("vault") else None
    return records[0], TuneOptions(**opts)


def _ensure_vault(path: Path, key: KeySource) -> None:
    from tuner.vault import Vault

    if path.exists():
        Vault.open(path, key)  # checks the key now, not after an hour of tuning
    else:
        Vault.create(path, key)


def _write_run_file(
    run_dir: Path,
    options: TuneOptions,
    vault: Path,
    entry: str,
    *,
    status: str,
    summary: dict[str, Any] | None = None,
) -> None:
    s = options.settings
    info = {
        "format": RUN_FORMAT,
        "status": status,
        "updated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": options.data,
        "model": {"arch": options.arch, "backbone": options.backbone,
                  "image_size": options.image_size},
        "optimizer": s.optimizer,
        "budget": s.budget,
        "epochs": options.epochs,
        "pruner": s.pruner,
        "fitness": s.fitness,
        "freeze_unimportant": s.freeze_unimportant,
        "workers": options.workers,
        "executor": options.executor,
        "journal": JOURNAL_FILE,
        **_stored_vault(run_dir, vault),
        "entry": entry,
        "best_model": BEST_DIR,
    }  # fmt: skip
    if summary is not None:
        info["summary"] = summary
    else:
        old = _try_read(run_dir / RUN_FILE)
        if old and "summary" in old:
            info["summary"] = old["summary"]
    _atomic_text(run_dir / RUN_FILE, json.dumps(info, indent=2) + "\n")


def _set_status(run_dir: Path, status: str) -> None:
    info = _try_read(run_dir / RUN_FILE)
    if info:
        info["status"] = status
        _atomic_text(run_dir / RUN_FILE, json.dumps(info, indent=2) + "\n")


def _read_run_file(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    info = _try_read(path)
    if info is None or info.get("format") != RUN_FORMAT:
        raise ConfigError(
            f"{run_dir} is not a hyperseal tuning run ({RUN_FILE} missing or unreadable)"
        )
    return info


def _try_read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _atomic_text(path: Path, text: str) -> None:
    """Write through the project's one atomic writer (fresh O_EXCL temp file, mode 0600)."""
    from tuner.errors import OutputError
    from tuner.vault.atomic import atomic_write

    atomic_write(path, text.encode("utf-8"), error=OutputError)
