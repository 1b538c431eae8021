"""The built-in detector trainer as a run target: its options, checks and best model.

What a detector run checks (space, fitness, data, model), trains (one
:class:`~tuner.objectives.detector_trial.DetectorObjective` per trial), keeps as
its best model (``best/weights.safetensors`` + ``manifest.json``) and records in
the vault (the whole training recipe, the dataset's fingerprint). The run folder
is the run engine's (:mod:`tuner.engine.run`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tuner.engine.options import RunOptions, check_epochs, check_run_options
from tuner.engine.run import RunTarget
from tuner.errors import ConfigError
from tuner.objectives.detector_trial import DataRef, DetectorObjective
from tuner.search.space import SearchSpace, default_space

if TYPE_CHECKING:
    from tuner.detectors import ModelSpec
    from tuner.search.trial import TrialResult

#: The synthetic scenes' default image count (``--images``).
SYNTHETIC_IMAGES = 500


@dataclass(frozen=True)
class TuneOptions(RunOptions):
    """What to tune and how (the non-secret settings of a detector run).

    Args:
        data: ``synthetic`` or a COCO folder.
        synthetic_images: Images of the synthetic scenes (only with ``synthetic``).
        synthetic_seed: Seed of the synthetic scenes.
        arch: Detector architecture.
        backbone: Detector backbone.
        image_size: Input size in pixels.
        space_file: A YAML search space; the built-in detector space when None.
        trials_per_gpu: Trials packed on one GPU.

    and, keyword-only, those of :class:`~tuner.engine.options.RunOptions` (``epochs``,
    ``settings``, ``workers``, ``executor``, ``device``, ``vault``, ``entry``, ``export``).
    """

    data: str = "synthetic"
    synthetic_images: int = SYNTHETIC_IMAGES
    synthetic_seed: int = 0
    arch: str = "fcos"
    backbone: str = "tiny"
    image_size: int = 128
    space_file: Path | None = None
    trials_per_gpu: int = 1


def prepare(options: TuneOptions) -> tuple[DetectorTarget, SearchSpace]:
    """Check every option, then build the target and its space (nothing is written)."""
    space = check_options(options)
    options = replace(options, settings=replace(options.settings, max_epochs=options.epochs))
    return DetectorTarget(options), space


def check_options(options: TuneOptions) -> SearchSpace:
    """Validate every option (space, optimizer, pruner, executor, device, data, model).

    Returns the search space.

    Raises:
        ConfigError, DataError, ModelError: the first problem found, in one line.
    """
    if options.data != "synthetic" and options.synthetic_images != SYNTHETIC_IMAGES:
        raise ConfigError(
            f"--images sets the size of the synthetic scenes; {options.data} has the images it"
            " has: drop --images"
        )
    check_epochs(options.epochs)  # before the space, which fixes 'epochs' at this value
    space = _space(options)
    _check_fitness(options.settings.fitness)
    with_epochs = replace(options.settings, max_epochs=options.epochs)
    check_run_options(replace(options, settings=with_epochs), space)
    _check_data(options)
    return space


@dataclass(frozen=True)
class DetectorTarget(RunTarget):
    """The built-in detector trainer as a run engine target."""

    options: TuneOptions
    kind: str = "detector"
    stop_when_failing: bool = False
    record_type: ClassVar[str] = "detector"

    @classmethod
    def from_header(
        cls, record: dict[str, Any], function: Callable[..., Any] | None = None
    ) -> DetectorTarget:
        """The target a journal's ``detector`` record describes."""
        opts = dict(record["options"])
        opts["space_file"] = Path(opts["space_file"]) if opts.get("space_file") else None
        opts["vault"] = Path(opts["vault"]) if opts.get("vault") else None
        return cls(TuneOptions(**opts))

    def header(self) -> dict[str, Any]:
        data = asdict(self.options)
        data.pop("settings")  # the journal's run record holds them
        data.pop("warm_start")  # its configs are in the settings: a resume reads no run
        data["space_file"] = str(self.options.space_file) if self.options.space_file else None
        data["vault"] = str(self.options.vault) if self.options.vault else None
        return {"type": self.record_type, "options": data}

    def describe(self) -> dict[str, Any]:
        return {"data": self.options.data, "model": self._model()}

    def check(self) -> None:
        _check_data(self.options)

    def trial_objective(self) -> DetectorObjective:
        o = self.options
        # check_options opened every image already: workers need not again
        ref = DataRef(o.data, o.synthetic_images, o.image_size, o.synthetic_seed, False)
        return DetectorObjective(ref, o.arch, o.backbone, o.image_size)

    def write_best(self, best_dir: Path, artifacts: dict[str, Any], trial: TrialResult) -> bool:
        from tuner.release import write_release_bytes

        weights = artifacts.get("weights")
        if weights is None:
            return False
        write_release_bytes(weights, self._spec(), best_dir)
        return True

    def vault_fields(self, best: TrialResult | None, best_dir: Path) -> dict[str, Any]:
        from tuner.release import read_manifest

        fields: dict[str, Any] = {
            "dataset_fingerprint": dataset_fingerprint(self.options),
            "model": self._model(),
        }
        if best is not None:
            from tuner.train import TrainConfig

            # The whole recipe (every TrainConfig field), not only the searched ones.
            fields["config"] = TrainConfig.from_dict(best.params, where="best trial").to_dict()
            if (best_dir / "manifest.json").exists():
                fields["weights_sha256"] = read_manifest(best_dir)["weights_sha256"]
        return fields

    def _model(self) -> dict[str, Any]:
        o = self.options
        return {"arch": o.arch, "backbone": o.backbone, "image_size": o.image_size}

    def _spec(self) -> ModelSpec:
        # Once per target, not at every new best (the data is checked already).
        cached = self.__dict__.get("_cached_spec")
        if cached is None:
            cached = _check_data(self.options)
            object.__setattr__(self, "_cached_spec", cached)
        return cached


def dataset_fingerprint(options: TuneOptions) -> str:
    """SHA-256 over the dataset's annotation files (identifies the data a recipe was tuned on)."""
    return _resolve(options).fingerprint()


# -- internals ---------------------------------------------------------------------------


def _space(options: TuneOptions) -> SearchSpace:
    """The search space with ``epochs`` fixed at ``options.epochs``."""
    from tuner.search.space import load_space, parse_space

    space = load_space(options.space_file) if options.space_file else default_space(options.epochs)
    if "epochs" not in space.names:
        specs = {p.name: p.to_spec() for p in space.params}
        specs["epochs"] = {"type": "fixed", "value": options.epochs}
        return parse_space(specs, where=space.where)
    if space["epochs"].kind != "fixed":
        raise ConfigError(f"{space.where}: 'epochs' must be fixed; set it with --epochs")
    return space.freeze({"epochs": options.epochs})


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
    from tuner.detectors import ModelSpec

    classes = tuple(_resolve(options).class_names)
    return ModelSpec(options.arch, options.backbone, options.image_size, classes)


def _resolve(options: TuneOptions) -> Any:
    from tuner.data.resolve import resolve_data

    return resolve_data(
        options.data,
        images=options.synthetic_images,
        size=options.image_size,
        seed=options.synthetic_seed,
    )
