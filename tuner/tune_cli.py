"""``hyperseal tune``: parse options, pick the key, show progress, print a summary.

No hyperparameter value is printed: the summary shows fitness, metrics and
importances; the best config stays in the vault (``hyperseal vault show``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tuner.vault.cli_keys import (
    IdentityOption,
    KeyFileOption,
    PassphraseFileOption,
    RecipientOption,
)

if TYPE_CHECKING:
    from tuner.engine.run import TuneOutcome


def tune(
    ctx: typer.Context,
    data: str = typer.Option("synthetic", "--data", "-d", help="'synthetic' or a COCO folder."),
    model: str = typer.Option("fcos", "--model", help="fcos, retinanet, fasterrcnn or ssdlite."),
    backbone: str = typer.Option("tiny", help="tiny (CPU), mobilenet_v3 or resnet50."),
    image_size: int = typer.Option(128, help="Square input size in pixels."),
    space: Path | None = typer.Option(None, help="Search space YAML (built-in space if omitted)."),
    optimizer: str | None = typer.Option(None, help="Nevergrad optimizer (see --list-optimizers)."),
    optimizer_option: list[str] = typer.Option(
        [],
        "--optimizer-option",
        metavar="KEY=VALUE",
        help="An option of a configurable family (repeatable).",
    ),
    budget: int = typer.Option(20, help="Number of trials."),
    epochs: int = typer.Option(4, help="Epochs of a full trial."),
    pruner: str = typer.Option("asha", help="asha, median or none."),
    reduction: int = typer.Option(3, help="ASHA reduction factor: rungs at epochs 1, η, η², ..."),
    fitness: str = typer.Option(
        "mAP", help="Metric, or expression of metrics, to maximise, e.g. '0.1*mAP50+0.9*mAP'."
    ),
    direction: str = typer.Option("maximize", help="maximize or minimize the fitness."),
    objective: str | None = typer.Option(
        None, help="Tune your own function: FILE.py:FUNCTION or MODULE:FUNCTION."
    ),
    command: str | None = typer.Option(
        None, help="Tune your own program: run per trial, e.g. 'python train.py --config {config}'."
    ),
    metrics_file: str | None = typer.Option(
        None, help="With --command: a CSV or JSON-lines file it writes, relative to its folder."
    ),
    metric: str | None = typer.Option(
        None, help="The fitness is this metric, by its exact name (e.g. 'metrics/mAP50-95(B)')."
    ),
    artifact: list[str] = typer.Option(
        [],
        "--artifact",
        metavar="PATH",
        help="With --command: a file or folder it writes, kept as best/ (repeatable).",
    ),
    trial_timeout: float | None = typer.Option(
        None, help="Seconds a --command trial may run before it is stopped."
    ),
    freeze_unimportant: bool = typer.Option(
        False,
        "--freeze-unimportant",
        help="Freeze parameters of low importance at their best values mid-search.",
    ),
    freeze_threshold: float = typer.Option(0.05, help="Importance below which to freeze."),
    workers: int = typer.Option(1, help="Trials run at once."),
    executor: str = typer.Option(
        "local", help="local, dask-local or tls://HOST:PORT (a Dask scheduler, over TLS)."
    ),
    trials_per_gpu: int = typer.Option(1, help="Small trials packed on one GPU."),
    device: str = typer.Option("auto", help="auto, cpu, cuda (every GPU) or cuda:N."),
    seed: int = typer.Option(0, help="Seed of the optimizer."),
    images: int = typer.Option(500, help="Synthetic images (with --data synthetic)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (default runs/tune-*)."),
    vault: Path | None = typer.Option(None, help="Vault for the best config (default in run)."),
    entry: str | None = typer.Option(None, help="Vault entry name (default: run folder name)."),
    resume: Path | None = typer.Option(None, help="Continue this run folder."),
    warm_start: list[Path] = typer.Option(
        [],
        "--warm-start",
        metavar="RUN_DIR",
        help="Run an earlier run's best configs first (read with this run's key; repeatable).",
    ),
    repair: bool = typer.Option(
        False, "--repair", help="With --resume: drop a torn last journal record."
    ),
    export: bool = typer.Option(
        False, "--export", help="Also write best config and trials in PLAINTEXT."
    ),
    list_optimizers: bool = typer.Option(
        False, "--list-optimizers", help="List recommended optimizers and exit."
    ),
    passphrase_file: PassphraseFileOption = None,
    key_file: KeyFileOption = None,
    recipient: RecipientOption = None,
    identity: IdentityOption = None,
) -> None:
    """Tune a detector's training hyperparameters, or your own training code (--objective,
    --command); seal the trials and the winning config.

    Long because its signature is the command's option list; the body parses them
    into the options of :mod:`tuner.tune` or :mod:`tuner.objectives` and hands over."""
    if list_optimizers:
        _print_optimizers()
        return
    from tuner.cli_support import RichProgress
    from tuner.tune import resume_run

    given = _given_on_command_line(ctx)
    own_code = objective is not None or command is not None
    _check_given(given, resume=resume is not None, own_code=own_code)
    if resume is not None:
        key = _reading_key(resume, passphrase_file, key_file, identity)
        chosen = budget if "budget" in given else None
        with _terminate_as_interrupt():
            outcome = resume_run(
                resume, key, repair=repair, budget=chosen, export=export, progress=RichProgress()
            )
        _print_summary(outcome, _key_options(key, key_file, identity))
        return
    from tuner.search.optimizers import DEFAULT_OPTIMIZER
    from tuner.search.study import StudySettings

    settings = StudySettings(
        optimizer=optimizer or DEFAULT_OPTIMIZER,
        optimizer_options=_options(optimizer_option),
        budget=budget,
        seed=seed,
        fitness=_fitness(fitness, metric, given),
        direction=direction,
        pruner=pruner,
        reduction=reduction,
        max_epochs=epochs,
        freeze_unimportant=freeze_unimportant,
        freeze_threshold=freeze_threshold,
    )
    run: dict[str, Any] = {
        "epochs": epochs,
        "settings": settings,
        "workers": workers,
        "executor": executor,
        "device": device,
        "vault": vault,
        "entry": entry,
        "export": export,
        "warm_start": tuple(warm_start),
    }
    if own_code:
        from tuner.objectives.target import ObjectiveOptions, prepare_run

        what = f"command {command!r}" if command else f"objective {objective}"
        own = ObjectiveOptions(
            space_file=space,  # type: ignore[arg-type]  # checked: --space is required
            objective=objective,
            command=command,
            metrics_file=metrics_file,
            artifacts=tuple(artifact),
            timeout=trial_timeout,
            **run,
        )
        prepared = prepare_run(own, out or _new_run_dir())
    else:
        from tuner.tune import TuneOptions
        from tuner.tune import prepare_run as prepare_detector_run

        what = f"{model}/{backbone} on {data}"
        options = TuneOptions(
            data=data,
            synthetic_images=images,
            arch=model,
            backbone=backbone,
            image_size=image_size,
            space_file=space,
            trials_per_gpu=trials_per_gpu,
            **run,
        )
        prepared = prepare_detector_run(options, out or _new_run_dir())
    key = _new_key(vault, passphrase_file, key_file, recipient, identity)
    prepared.destination(key)  # the vault and entry, before the announcement
    if warm_start:  # read before the announcement, which counts what was taken
        prepared = prepared.warmed(_warm_start_key(key, identity))
    _announce(what, prepared.target.options.settings, workers, prepared.run_dir)
    with _terminate_as_interrupt():
        outcome = prepared.start(key, progress=RichProgress())
    _print_summary(outcome, _key_options(key, key_file, identity))


def _new_run_dir() -> Path:
    from tuner.engine.folder import new_run_dir

    return new_run_dir()


def _announce(what: str, settings: Any, workers: int, run_dir: Path) -> None:
    from tuner.cli_support import count

    warm = ""
    if settings.warm_start_runs:  # counts only: the configs are sealed
        warm = (
            f"; warm start: {count(len(settings.enqueued), 'config')} from"
            f" {count(settings.warm_start_runs, 'earlier run')}"
        )
    typer.echo(
        f"tuning {what}: {count(settings.budget, 'trial')} of up to"
        f" {count(settings.max_epochs, 'epoch')}, {settings.optimizer},"
        f" {count(workers, 'worker')}{warm}; run folder {run_dir}",
        err=True,
    )


def _warm_start_key(key: Any, identity: Path | None) -> Any:
    """The key that reads the ``--warm-start`` runs: the new run's, or ``--identity`` when
    given (a run sealed to a ``--recipient`` holds only its public key, which cannot read)."""
    if identity is None:
        return key
    from tuner.vault import Identity
    from tuner.vault.cli_keys import warn_if_others_can_read

    warn_if_others_can_read(identity, "identity")
    return Identity.load(identity)


#: What ``--resume`` takes beside the run folder: the run keeps every other setting it began with.
RESUME_OPTIONS = frozenset(
    {"resume", "repair", "budget", "export", "passphrase_file", "key_file", "identity"}
)
#: Options of the built-in detector trainer, and of your own code only.
DETECTOR_OPTIONS = ("data", "model", "backbone", "image_size", "images", "trials_per_gpu")
OWN_CODE_OPTIONS = ("metrics_file", "metric", "artifact", "trial_timeout", "direction")


def _check_given(given: set[str], *, resume: bool, own_code: bool) -> None:
    """The options given belong to the kind of run asked for (a resume, your own code, or
    the detector trainer): each kind's function has no parameter for the others'."""
    from tuner.errors import ConfigError

    if resume:
        extra = sorted(given - RESUME_OPTIONS)
        if extra:
            raise ConfigError(
                f"--resume continues a run with the settings it began with; drop {_flags(extra)}"
                " (with --resume only --budget, --export, --repair and the options that read"
                " the run's key apply: --passphrase-file, --key-file, --identity)"
            )
        return
    if "repair" in given:
        raise ConfigError("--repair only applies with --resume RUN_DIR; drop --repair")
    if own_code:
        extra = [name for name in DETECTOR_OPTIONS if name in given]
        if extra:
            raise ConfigError(
                f"{_flags(extra)} configure the built-in detector trainer; your own code reads"
                " its data and model itself: drop them"
            )
        return
    extra = [name for name in OWN_CODE_OPTIONS if name in given]
    if extra:
        raise ConfigError(f"{_flags(extra)} apply to --objective or --command runs only; drop them")


def _flags(names: list[str]) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in names)


def _fitness(fitness: str, metric: str | None, given: set[str]) -> str:
    """``--metric NAME`` is ``--fitness '`NAME`'``."""
    from tuner.errors import ConfigError

    if metric is None:
        return fitness
    if "fitness" in given:
        raise ConfigError(
            "give --fitness or --metric, not both (--metric NAME is --fitness '`NAME`')"
        )
    if "`" in metric or not metric.strip():
        raise ConfigError(f"--metric {metric!r} is not a metric name")
    return f"`{metric}`"


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler) stops the run as Ctrl-C does: the run is marked
    interrupted and its worker processes are shut down. Without this, a terminated driver
    left its spawned workers behind, blocked for ever."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _options(pairs: list[str]) -> dict[str, object]:
    import yaml

    from tuner.errors import ConfigError
    from tuner.yamlfile import load_yaml

    options: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--optimizer-option {pair!r} is not KEY=VALUE")
        try:
            where = f"--optimizer-option {name.strip()}"  # alias bombs refused, as in files
            options[name.strip()] = load_yaml(value, where=where, error=ConfigError)
        except yaml.YAMLError:
            raise ConfigError(
                f"--optimizer-option {pair!r}: {value!r} is not a valid value (YAML);"
                " quote it or fix the brackets, e.g. KEY=[1, 2] or KEY=text"
            ) from None
    return options


def _new_key(
    vault: Path | None,
    passphrase_file: Path | None,
    key_file: Path | None,
    recipient: str | None,
    identity: Path | None,
):  # type: ignore[no-untyped-def]
    from tuner.vault.cli_keys import key_for_new_or_default, key_for_writing_or_default

    if vault is not None and vault.exists():
        return key_for_writing_or_default(
            vault,
            passphrase_file=passphrase_file,
            key_file=key_file,
            identity=identity,
            recipient=recipient,
        )
    return key_for_new_or_default(
        passphrase_file=passphrase_file, key_file=key_file, recipient=recipient
    )


def _given_on_command_line(ctx: typer.Context) -> set[str]:
    """Names of the options the user set (on the command line or in the environment)."""
    given = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given.add(name)
    return given


def _reading_key(
    run_dir: Path, passphrase_file: Path | None, key_file: Path | None, identity: Path | None
):  # type: ignore[no-untyped-def]
    from tuner.engine.folder import JOURNAL_FILE
    from tuner.errors import ConfigError
    from tuner.vault.cli_keys import key_for_reading_or_default

    journal = run_dir / JOURNAL_FILE
    if not journal.exists():
        raise ConfigError(f"{run_dir} is not a tuning run folder ({JOURNAL_FILE} missing)")
    return key_for_reading_or_default(
        journal, passphrase_file=passphrase_file, key_file=key_file, identity=identity
    )


def _print_optimizers() -> None:
    from tuner.search.optimizers import DEFAULT_OPTIMIZER, list_optimizers

    listing = list_optimizers()
    typer.echo(f"default: {DEFAULT_OPTIMIZER}")
    for group in ("evolutionary", "bayesian", "composed"):
        typer.echo(f"{group + ':':<14}" + ", ".join(listing[group]))
    typer.echo(
        "configurable families (--optimizer-option KEY=VALUE): "
        + ", ".join(listing["configurable"])
    )
    typer.echo(f"any of the {len(listing['registry'])} names in nevergrad's registry also works")


def _key_options(key: object, key_file: Path | None, identity: Path | None) -> str:
    """The key options that read this run back, for the hints (none for the default key
    file or a passphrase, which the reading commands find or ask for)."""
    from tuner.vault import Recipient

    if key_file is not None:
        return f" --key-file {key_file}"
    if identity is not None:
        return f" --identity {identity}"
    if isinstance(key, Recipient):
        return " --identity IDENTITY_FILE"
    return ""


def _print_summary(outcome, key_options: str) -> None:  # type: ignore[no-untyped-def]
    result = outcome.result
    statuses = [t.status for t in result.trials]
    minutes, seconds = divmod(int(result.seconds), 60)
    typer.echo(
        f"{len(result.trials)} trials ({statuses.count('ok')} ok, {statuses.count('pruned')} "
        f"pruned, {statuses.count('failed')} failed) in {minutes}m{seconds:02d}s; "
        f"pruning saved {result.epochs_saved} epochs"
    )
    best, default = outcome.best, outcome.default
    if default is not None and default.status != "failed":
        typer.echo(f"default config  (trial 0): fitness {default.fitness:.4f}  {_metrics(default)}")
    if best is not None:
        gain = f"  ({best.fitness - default.fitness:+.4f})" if default is not None else ""
        typer.echo(
            f"best config (trial {best.number:>3}): fitness {best.fitness:.4f}  {_metrics(best)}"
            f"{gain}"
        )
    if result.importance is not None:
        top = ", ".join(f"{r.param} {r.importance:.2f}" for r in result.importance.itertuples())
        typer.echo(f"importance: {top}")
    if result.frozen:
        typer.echo(f"frozen mid-search: {', '.join(sorted(result.frozen))}")
    from tuner.search.trial import masked_reason

    failed = [t for t in result.trials if t.status == "failed"]
    for t in failed[:5]:
        typer.echo(f"trial {t.number} failed: {masked_reason(t.error or '')}")
    for warning in outcome.warnings:
        typer.echo(f"warning: {warning}", err=True)
    run = outcome.run_dir
    typer.echo(f"run folder: {run}  (journal sealed, {_best_model(outcome)})")
    sealed = "best config" if best is not None else "no best config; the run's record"
    typer.echo(f"{sealed} sealed in {outcome.vault}, entry '{outcome.entry}'")
    typer.echo(f"see it:  hyperseal vault show {outcome.vault} {outcome.entry}{key_options}")
    typer.echo(f"report:  hyperseal report tune {run}{key_options}")
    if outcome.exported is not None:
        typer.echo(
            f"note: wrote the PLAINTEXT best config and trial table to {outcome.exported}"
            " (mode 0600, NOT encrypted); delete them when done",
            err=True,
        )


def _best_model(outcome: TuneOutcome) -> str:
    """Where the best model is, or why there is none (never a folder that does not exist)."""
    from tuner.engine.folder import BEST_DIR

    best_dir = outcome.run_dir / BEST_DIR
    if (best_dir / "manifest.json").exists():
        return f"best model in {best_dir}"
    if best_dir.is_dir():
        return f"best trial's artifacts in {best_dir}"
    if outcome.best is None:
        return "no best model: every trial failed"
    if outcome.kind != "detector":
        return "no artifacts kept: the best trial declared none"
    return "no model kept: no trial ran to the end"


def _metrics(trial) -> str:  # type: ignore[no-untyped-def]
    """The metrics in the evaluation's order (a trial replayed from the journal has them
    sorted by name)."""
    from tuner.evaluate import METRICS
    from tuner.plaintext import public_metrics

    order = {name: i for i, name in enumerate(METRICS)}
    metrics = public_metrics(trial.metrics, trial.params)  # none named like a parameter
    items = sorted(metrics.items(), key=lambda kv: order.get(kv[0], len(order)))
    return " ".join(f"{k}={v:.3f}" for k, v in items)
