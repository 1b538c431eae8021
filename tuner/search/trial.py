"""Trials: one evaluation of the objective at one point of the search space.

``run_trial`` runs in whichever worker executes the trial. It never raises for
a failing objective: an exception, a diverging loss or running out of memory
becomes a ``failed`` :class:`TrialResult` with its reason, and the search goes on.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from tuner.search.fitness import Fitness
from tuner.search.pruning import PruneRule

OK, PRUNED, FAILED = "ok", "pruned", "failed"


class TrialPruned(Exception):
    """Raised by an objective to stop a trial that :meth:`TrialContext.should_prune` condemned.

    The trial is recorded as pruned, with the fitness of its last reported epoch.
    """


@dataclass
class TrialContext:
    """What an objective gets besides the hyperparameters: where to run and how to report.

    Objectives call :meth:`report` after each epoch and stop when it returns True
    (or check :meth:`should_prune`, or raise :class:`TrialPruned`). They may put
    bytes (e.g. the trained weights) in ``artifacts``, or declare files and folders
    with :meth:`add_artifact` (objectives that support it pack them there).
    """

    number: int
    fitness: Fitness = field(default_factory=Fitness)
    rule: PruneRule = field(default_factory=PruneRule)
    device: str = "cpu"
    curve: list[tuple[int, float]] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    pruned: bool = False
    artifacts: dict[str, Any] = field(default_factory=dict)
    artifact_paths: list[str] = field(default_factory=list)
    workdir: str | None = None

    def report(self, epoch: int, metrics: dict[str, float]) -> bool:
        """Record an epoch's metrics; return True when the trial should stop (pruned)."""
        value = self.fitness(metrics)
        self.curve.append((epoch, value))
        self.history.append({"epoch": epoch, **metrics})
        if self.rule.should_stop(epoch, value):
            self.pruned = True
        return self.pruned

    def should_prune(self) -> bool:
        """Whether the last :meth:`report` condemned this trial (stop, or raise TrialPruned)."""
        return self.pruned

    def add_artifact(self, path: str | os.PathLike[str]) -> None:
        """Declare a file or folder to keep as the run's ``best/`` if this trial wins."""
        self.artifact_paths.append(os.fspath(path))


class Objective(Protocol):
    """A picklable callable: hyperparameters and a context in, final metrics out."""

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]: ...


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial (no key, no vault)."""

    number: int
    params: dict[str, Any]
    fitness: Fitness
    rule: PruneRule
    device: str = "cpu"
    threads: int | None = None


@dataclass
class TrialResult:
    """The outcome of a trial, as the driver seals it in the journal."""

    number: int
    params: dict[str, Any]
    status: str
    fitness: float
    metrics: dict[str, float]
    epochs_run: int
    seconds: float
    curve: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None
    #: Bytes the objective left (the trained weights): kept only until the tuner has
    #: written the best model, and never shown in ``repr``.
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False)

    def record(self) -> dict[str, Any]:
        """JSON-ready form for the journal (artifacts left out)."""
        return {
            "type": "trial",
            "number": self.number,
            "params": self.params,
            "status": self.status,
            "fitness": self.fitness,
            "metrics": self.metrics,
            "epochs_run": self.epochs_run,
            "seconds": round(self.seconds, 3),
            "curve": [[e, v] for e, v in self.curve],
            "error": self.error,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrialResult:
        """Inverse of :meth:`record`."""
        return cls(
            number=int(record["number"]),
            params=dict(record["params"]),
            status=str(record["status"]),
            fitness=float(record["fitness"]),
            metrics={k: float(v) for k, v in record.get("metrics", {}).items()},
            epochs_run=int(record.get("epochs_run", 0)),
            seconds=float(record.get("seconds", 0.0)),
            curve=[(int(e), float(v)) for e, v in record.get("curve", [])],
            error=record.get("error"),
        )


def run_trial(objective: Objective, task: TrialTask) -> TrialResult:
    """Run ``objective`` for ``task`` and turn any failure into a ``failed`` result.

    The trial runs with ``task.threads`` torch threads; the caller's setting is
    restored afterwards (a trial run in a notebook's own process leaves it as it was).
    """
    if not task.threads:
        return _run_trial(objective, task)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(task.threads)
    try:
        return _run_trial(objective, task)
    finally:
        torch.set_num_threads(before)


def _run_trial(objective: Objective, task: TrialTask) -> TrialResult:
    ctx = TrialContext(task.number, task.fitness, task.rule, task.device)
    start = time.perf_counter()
    try:
        metrics = objective(dict(task.params), ctx)
        fitness = task.fitness(metrics)
        if not math.isfinite(fitness):
            raise ValueError("the objective returned a non-finite fitness")
        status, error = (PRUNED if ctx.pruned else OK), None
    except TrialPruned:
        metrics, fitness, status, error = _pruned_here(ctx)
    except Exception as exc:  # a failing trial must never stop the search
        metrics, fitness, status, error = {}, math.nan, FAILED, _reason(exc)
    return TrialResult(
        number=task.number,
        params=dict(task.params),
        status=status,
        fitness=fitness,
        metrics={k: float(v) for k, v in metrics.items()},
        epochs_run=len(ctx.curve),
        seconds=time.perf_counter() - start,
        curve=list(ctx.curve),
        error=error,
        artifacts=ctx.artifacts if status != FAILED else {},
    )


def _pruned_here(ctx: TrialContext) -> tuple[dict[str, float], float, str, str | None]:
    """A trial stopped by :class:`TrialPruned`: the metrics and fitness of its last epoch."""
    if not ctx.curve:
        return {}, math.nan, FAILED, "TrialPruned raised before any epoch was reported"
    last = {k: v for k, v in ctx.history[-1].items() if k != "epoch"}
    return last, ctx.curve[-1][1], PRUNED, None


def _reason(exc: BaseException) -> str:
    """A one-line reason: the error's type and first line (no traceback, no locals)."""
    name = type(exc).__name__
    if "OutOfMemory" in name or "out of memory" in str(exc).lower():
        return f"{name}: out of memory"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{name}: {first}" if first else name


#: A number in free text (not inside a word or a dotted name, nor an exit status).
NUMBER = re.compile(
    r"(?<!exited with code )(?<!killed by signal )(?<!line )"  # an exit status or a line
    r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])"
)


def masked_reason(reason: str) -> str:
    """A failure reason fit for plaintext (``run.json``, the terminal): every number
    masked as ``…``, since an error may quote the value that broke the trial. The sealed
    journal keeps the reason whole."""
    return NUMBER.sub("…", reason)
