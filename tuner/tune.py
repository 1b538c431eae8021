"""``tune_run``, ``resume_run`` and ``load_results``: detector tuning with everything sealed.

The built-in detector trainer is one objective of the run engine
(:mod:`tuner.engine.run`), which owns the run folder (:mod:`tuner.engine.folder`
describes its layout); this module says what a detector run checks, trains,
keeps as its best model (``best/weights.safetensors`` + ``manifest.json``) and
records in the vault (the whole training recipe, the dataset's fingerprint).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.engine import run as engine
from tuner.engine.folder import (
    BEST_DIR,
    EXPORT_DIR,
    JOURNAL_FILE,
    RUN_FILE,
    RUN_FORMAT,
    VAULT_FILE,
    check_run_dir,
    new_run_dir,
    run_vault_path,
    try_read,
)
from tuner.engine.run import (
    TuneOutcome,
    check_run_options,
    export_run,
    load_journal,
    load_results,
    resume_run,
    run_summary,
    tuning_result_for,
)
from tuner.errors import ConfigError
from tuner.progress import Progress
from tuner.search.detector_objective import DataRef, DetectorObjective
from tuner.search.space import SearchSpace, default_space, parse_space
from tuner.search.study import Study, StudySettings
from tuner.search.trial import TrialResult

if TYPE_CHECKING:
    from tuner.detectors import ModelSpec
    from tuner.vault import KeySource

__all__ = [
    "BEST_DIR",
    "EXPORT_DIR",
    "JOURNAL_FILE",
    "RUN_FILE",
    "RUN_FORMAT",
    "VAULT_FILE",
    "DetectorTarget",
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
    "resume_run",
    "run_vault_path",
    "tune_run",
    "tuning_result_for",
]


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
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    space = check_options(options)  # fail fast, before any file is written
    options = replace(options, settings=replace(options.settings, max_epochs=options.epochs))
    vault_path, entry = check_destination(options, run_dir, key)
    target = DetectorTarget(options)
    return engine.start_run(target, space, key, run_dir, vault_path, entry, progress=progress)


def check_destination(
    options: TuneOptions, run_dir: Path, key: KeySource | None
) -> tuple[Path, str]:
    """Where a new run's best config goes: ``(vault, entry)``, checked before any work
    (:func:`tuner.engine.run.check_destination`)."""
    return engine.check_destination(options.vault, options.entry, run_dir, key)


@dataclass(frozen=True)
class DetectorTarget:
    """The built-in detector trainer as a run engine target."""

    options: TuneOptions
    kind: str = "detector"
    stop_when_failing: bool = False

    @classmethod
    def from_header(cls, record: dict[str, Any]) -> DetectorTarget:
        """The target a journal's ``detector`` record describes."""
        opts = dict(record["options"])
        opts["space_file"] = Path(opts["space_file"]) if opts.get("space_file") else None
        opts["vault"] = Path(opts["vault"]) if opts.get("vault") else None
        return cls(TuneOptions(**opts))

    def header(self) -> dict[str, Any]:
        return {"type": "detector", "options": _plain_options(self.options)}

    def describe(self) -> dict[str, Any]:
        o = self.options
        model = {"arch": o.arch, "backbone": o.backbone, "image_size": o.image_size}
        return {"data": o.data, "model": model}

    def check(self) -> None:
        _check_data(self.options)

    def study(
        self,
        settings: StudySettings,
        space: SearchSpace,
        journal: Any,
        replay: list[dict[str, Any]] | None,
    ) -> Study:
        return _study(self.options, settings, space, journal, replay=replay)

    def write_best(self, best_dir: Path, artifacts: dict[str, Any], trial: TrialResult) -> bool:
        from tuner.release import write_release_bytes

        weights = artifacts.get("weights")
        if weights is None:
            return False
        write_release_bytes(weights, self._spec(), best_dir)
        return True

    def best_warnings(self, best_dir: Path, trial: TrialResult) -> list[str]:
        return []  # weights and an architecture-only manifest

    def vault_fields(self, best: TrialResult | None, best_dir: Path) -> dict[str, Any]:
        from tuner.release import read_manifest

        o = self.options
        fields: dict[str, Any] = {
            "dataset_fingerprint": dataset_fingerprint(o),
            "model": {"arch": o.arch, "backbone": o.backbone, "image_size": o.image_size},
        }
        if best is not None:
            from tuner.train import TrainConfig

            # The whole recipe (every TrainConfig field), not only the searched ones.
            fields["config"] = TrainConfig.from_dict(best.params, where="best trial").to_dict()
            if (best_dir / "manifest.json").exists():
                fields["weights_sha256"] = read_manifest(best_dir)["weights_sha256"]
        return fields

    def with_options(self, **changes: Any) -> DetectorTarget:
        return replace(self, options=replace(self.options, **changes))

    def _spec(self) -> ModelSpec:
        # Once per target, not at every new best (the data is checked already).
        cached = self.__dict__.get("_cached_spec")
        if cached is None:
            cached = _check_data(self.options)
            object.__setattr__(self, "_cached_spec", cached)
        return cached


def check_options(options: TuneOptions) -> SearchSpace:
    """Validate every option (space, optimizer, pruner, executor, device, data, model).

    Returns the search space.

    Raises:
        ConfigError, DataError, ModelError: the first problem found, in one line.
    """
    if options.epochs < 1:  # before the space, which fixes 'epochs' at this value
        raise ConfigError("--epochs must be 1 or more")
    space = _space(options)
    _check_fitness(options.settings.fitness)
    with_epochs = replace(options.settings, max_epochs=options.epochs)
    check_run_options(replace(options, settings=with_epochs), space)
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


# Kept for callers and tests that build run folders by hand.
_summary = run_summary


def _write_run_file(
    run_dir: Path,
    options: TuneOptions,
    vault: Path,
    entry: str,
    *,
    status: str,
    summary: dict[str, Any] | None = None,
) -> None:
    engine.write_run_file(run_dir, DetectorTarget(options), vault, entry, status=status,
                          summary=summary)  # fmt: skip


def _try_read(path: Path) -> dict[str, Any] | None:
    return try_read(path)
