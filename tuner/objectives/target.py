"""Tuning your own training code: a Python function or a command, run by the run engine.

:func:`tune_objective` is the Python face of ``hyperseal tune --objective`` and
``hyperseal tune --command``; the run folder, the sealed journal and vault,
resume, pruning, freezing and the reports are the run engine's
(:mod:`tuner.engine.run`), the same as for the built-in detector trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tuner.engine.options import RunOptions, check_epochs, check_run_options
from tuner.engine.run import PreparedRun, RunTarget, TuneOutcome
from tuner.errors import ConfigError
from tuner.objectives.artifacts import searched_value_files, unpack_best
from tuner.objectives.command import CommandObjective, resolve_command
from tuner.objectives.python import PythonObjective, load_objective, reference_of
from tuner.progress import Progress
from tuner.search.study import StudySettings

if TYPE_CHECKING:
    from tuner.search.space import SearchSpace
    from tuner.search.trial import TrialResult
    from tuner.vault import KeySource


@dataclass(frozen=True)
class ObjectiveOptions(RunOptions):
    """What to tune (a function or a command) and how (the non-secret settings of a run).

    Args:
        space_file: The search space (YAML): any parameter names.
        objective: ``file.py:function``, ``module:function``, or the function itself.
        command: A command run once per trial (``{config}`` is its config file's path).
        metrics_file: A file the command writes (``.csv`` or JSON lines), relative to
            its working folder; its last row is the result.
        artifacts: Files or folders a command leaves in its working folder, kept as
            the run's ``best/`` when the trial wins.
        timeout: Seconds a command's trial may run (None: no limit).

    and, keyword-only, those of :class:`~tuner.engine.options.RunOptions` (``epochs``,
    ``settings``, ``workers``, ``executor``, ``device``, ``vault``, ``entry``, ``export``).
    """

    space_file: Path
    objective: str | Callable[..., Any] | None = None
    command: str | None = None
    metrics_file: str | None = None
    artifacts: tuple[str, ...] = ()
    timeout: float | None = None


def tune_objective(
    options: ObjectiveOptions,
    key: KeySource,
    run_dir: Path,
    *,
    progress: Progress | None = None,
) -> TuneOutcome:
    """Tune a function or a command; seal the journal and best config with ``key``.

    Example::

        def objective(params, trial):
            for epoch in range(1, 4):
                acc = train_one_epoch(params["lr"])
                if trial.report(epoch, {"acc": acc}):
                    break  # pruned
            return {"acc": acc}

        tune_objective(ObjectiveOptions(Path("space.yaml"), objective=objective,
                                        settings=StudySettings(fitness="acc")), key, run_dir)

    Raises:
        ConfigError: a bad option, an objective that cannot be imported, a command not
            found, or (mid-run) trials that all fail; and the vault's errors.
    """
    return prepare_run(options, run_dir).start(key, progress=progress)


def prepare_run(options: ObjectiveOptions, run_dir: Path) -> PreparedRun:
    """Check the run folder, every option and the entry's name; nothing is written.

    Raises:
        ConfigError: the first problem, in one line.
    """
    return PreparedRun.checked(run_dir, lambda: prepare(options))


def prepare(options: ObjectiveOptions) -> tuple[ObjectiveTarget, SearchSpace]:
    """Check every option and build the target and its space (nothing is written).

    Raises:
        ConfigError: the first problem, in one line.
    """
    from tuner.search.space import load_space

    _check_what(options)
    space = load_space(options.space_file, detector=False)
    settings = replace(options.settings, max_epochs=options.epochs)
    options = replace(options, settings=settings)
    check_run_options(options, space)
    target = ObjectiveTarget(options, _objective(options, space))
    return target, space


def _check_what(options: ObjectiveOptions) -> None:
    """One objective or command, with the options that apply to it."""
    if options.objective is not None and options.command is not None:
        raise ConfigError("give --objective or --command, not both")
    if options.objective is None and options.command is None:
        raise ConfigError("give one of --objective FILE.py:FUNCTION or --command 'PROGRAM ...'")
    if options.space_file is None:
        raise ConfigError(
            "--space is required with --objective or --command: a YAML file of the parameters"
            " your code reads, e.g. 'lr: {type: log, low: 1.0e-4, high: 0.1, default: 0.01}'"
        )
    check_epochs(options.epochs)
    if options.timeout is not None and options.timeout <= 0:
        raise ConfigError("--trial-timeout must be a positive number of seconds")
    if options.objective is not None and (options.metrics_file or options.artifacts):
        raise ConfigError(
            "--metrics-file and --artifact apply to --command; a Python objective returns its"
            " metrics and declares artifacts with trial.add_artifact(path)"
        )
    if options.objective is not None and options.timeout is not None:
        raise ConfigError(
            "--trial-timeout applies to --command: a Python function cannot be stopped from"
            " outside; run it as a command, or stop it yourself with trial.should_prune()"
        )


def _objective(options: ObjectiveOptions, space: SearchSpace) -> Any:
    from tuner.search.fitness import Fitness

    if options.command is not None:
        return CommandObjective(
            resolve_command(options.command),
            metrics_file=options.metrics_file,
            artifacts=tuple(options.artifacts),
            timeout=options.timeout,
        )
    names = Fitness.parse(options.settings.fitness, options.settings.direction).metrics
    metric = names[0] if len(names) == 1 else "value"
    optional = tuple(p.name for p in space.params if p.when)
    if callable(options.objective):
        return PythonObjective(reference_of(options.objective), options.objective, metric, optional)
    ref = str(options.objective)
    where, _, name = ref.rpartition(":")
    if where.endswith(".py"):
        ref = f"{Path(where).resolve()}:{name}"
    load_objective(ref)  # fails here, in one line, rather than in every trial
    return PythonObjective(ref, None, metric, optional)


@dataclass(frozen=True)
class ObjectiveTarget(RunTarget):
    """A Python function or a command as a run engine target."""

    options: ObjectiveOptions
    objective: Any
    stop_when_failing: bool = True
    record_type: ClassVar[str] = "objective"

    @property
    def kind(self) -> str:
        return "command" if isinstance(self.objective, CommandObjective) else "python"

    @classmethod
    def from_header(
        cls, record: dict[str, Any], function: Callable[..., Any] | None = None
    ) -> ObjectiveTarget:
        """The target a journal's ``objective`` record describes."""
        o = dict(record["options"])
        options = ObjectiveOptions(
            space_file=Path(o["space_file"]),
            objective=o.get("objective"),
            command=o.get("command"),
            metrics_file=o.get("metrics_file"),
            artifacts=tuple(o.get("artifacts") or ()),
            timeout=o.get("timeout"),
            settings=StudySettings(),  # replaced by the journal's own settings on resume
            **RunOptions.from_run_record(o),
        )
        spec = record["objective"]
        if spec["kind"] == "command":
            objective: Any = CommandObjective(
                tuple(spec["argv"]),
                metrics_file=spec.get("metrics_file"),
                artifacts=tuple(spec.get("artifacts") or ()),
                timeout=spec.get("timeout"),
            )
        else:
            ref = spec.get("ref")
            if function is None and not ref:
                raise ConfigError(
                    "this run tuned a function defined in a notebook or script (__main__);"
                    " resume it from Python with resume_run(..., objective=that_function)"
                )
            if function is None:
                load_objective(ref)
            optional = tuple(spec.get("optional") or ())
            objective = PythonObjective(ref, function, spec.get("metric", "value"), optional)
            options = replace(options, objective=ref)
        return cls(options, objective)

    def header(self) -> dict[str, Any]:
        o = self.options
        plain = {
            "space_file": str(o.space_file),
            "objective": self._ref(),
            "command": o.command,
            "metrics_file": o.metrics_file,
            "artifacts": list(o.artifacts),
            "timeout": o.timeout,
            **o.run_record(),
        }
        return {"type": self.record_type, "objective": self._spec(), "options": plain}

    def _ref(self) -> str | None:
        return self.objective.ref if isinstance(self.objective, PythonObjective) else None

    def _spec(self) -> dict[str, Any]:
        o = self.objective
        if isinstance(o, CommandObjective):
            return {
                "kind": "command",
                "argv": list(o.argv),
                "metrics_file": o.metrics_file,
                "artifacts": list(o.artifacts),
                "timeout": o.timeout,
            }
        return {"kind": "python", "ref": o.ref, "metric": o.metric, "optional": list(o.optional)}

    def describe(self) -> dict[str, Any]:
        spec = {k: v for k, v in self._spec().items() if k not in ("optional", "metric")}
        return {"objective": spec}

    def check(self) -> None:
        if isinstance(self.objective, CommandObjective):
            resolve_command(" ".join(_quote(w) for w in self.objective.argv))
        elif self.objective.function is None:
            load_objective(str(self.objective.ref))

    def trial_objective(self) -> Any:
        return self.objective

    def write_best(self, best_dir: Path, artifacts: dict[str, Any], trial: TrialResult) -> bool:
        archive = artifacts.get("files")
        if archive is None:
            return False
        unpack_best(archive, best_dir)
        return True

    def best_warnings(self, best_dir: Path, trial: TrialResult) -> list[str]:
        files = [p for p in best_dir.rglob("*") if p.is_file() and p.name != "metrics.json"]
        found = searched_value_files(files, trial.params, best_dir.parent)
        return [
            f"{name} holds the value of searched parameter(s) {', '.join(params)} in plaintext;"
            " keep only weights in the artifacts (training code often saves its own config)"
            for name, params in sorted(found.items())
        ]

    def vault_fields(self, best: TrialResult | None, best_dir: Path) -> dict[str, Any]:
        import hashlib

        fields: dict[str, Any] = {"objective": self._spec()}
        if best is not None and best_dir.is_dir():
            fields["artifacts_sha256"] = {
                p.relative_to(best_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(best_dir.rglob("*"))
                if p.is_file() and p.name != "metrics.json"
            }
        return fields


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)
