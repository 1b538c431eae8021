"""The search loop: ask, run trials in parallel, tell, prune, freeze, journal, resume.

:class:`Study` is objective-agnostic: it drives any picklable
:class:`~tuner.search.trial.Objective` over a :class:`SearchSpace`. Each
finished trial goes to the journal (an append-only sink such as the sealed
journal) before anything else happens, so a crash loses no finished trial.
Resuming replays the journal: every finished trial is told to a fresh
optimizer (and freezes are re-applied), then the search goes on to the full
budget with new trial numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tuner.errors import ConfigError, HypersealError
from tuner.progress import Progress, or_null
from tuner.search.executors import Executor, InlineExecutor
from tuner.search.fitness import Fitness
from tuner.search.importance import MIN_TRIALS, parameter_importance, unimportant
from tuner.search.optimizers import DEFAULT_OPTIMIZER, Suggester, make_optimizer, point_key
from tuner.search.pruning import Pruner, PruneRule
from tuner.search.space import SearchSpace
from tuner.search.trial import FAILED, OK, PRUNED, Objective, TrialResult, TrialTask

if TYPE_CHECKING:
    import pandas as pd


class TuningInterrupted(HypersealError):
    """The search was stopped (Ctrl-C); finished trials are safe in the journal."""

    exit_code = 130


class Journal(Protocol):
    """Where finished trials go: ``append`` must be durable before it returns."""

    def append(self, record: dict[str, Any]) -> None: ...


class MemoryJournal:
    """A journal kept in a list (tests, notebooks)."""

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = list(records or [])

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)


@dataclass(frozen=True)
class StudySettings:
    """How to search. Stored (sealed) in the journal's first record so a resume reuses it."""

    optimizer: str = DEFAULT_OPTIMIZER
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    budget: int = 30
    seed: int = 0
    fitness: str = "mAP"
    direction: str = "maximize"
    pruner: str = "asha"
    max_epochs: int = 6
    reduction: int = 3
    min_epochs: int = 1
    freeze_unimportant: bool = False
    freeze_after: int | None = None
    freeze_threshold: float = 0.05
    include_default: bool = True
    #: Configs run right after the default, before the optimizer's own asks (a warm
    #: start's, projected onto the space); sealed here so that a resume needs no more.
    enqueued: list[dict[str, Any]] = field(default_factory=list)
    #: How many earlier runs ``enqueued`` was taken from (0: none).
    warm_start_runs: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ConfigError("--budget must be 1 or more")
        if not all(isinstance(config, dict) for config in self.enqueued):
            raise ConfigError("enqueued configs must be mappings of parameter: value")
        if not 0.0 <= self.freeze_threshold < 1.0:
            raise ConfigError("--freeze-threshold must be in [0, 1)")
        Fitness.parse(self.fitness, self.direction)

    @property
    def freeze_at(self) -> int:
        """Finished trials after which unimportant parameters are frozen."""
        return self.freeze_after or max(MIN_TRIALS, self.budget // 2)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySettings:
        return cls(**data)


@dataclass
class StudyResult:
    """Everything a finished (or stopped) search learned."""

    trials: list[TrialResult]
    importance: pd.DataFrame | None
    frozen: dict[str, Any]
    seconds: float
    duplicates_avoided: int
    max_epochs: int

    @property
    def best(self) -> TrialResult | None:
        """The best trial that ran to the end (pruned ones only if none did)."""
        for status in (OK, PRUNED):
            done = [t for t in self.trials if t.status == status]
            if done:
                return max(done, key=lambda t: t.fitness)
        return None

    @property
    def default_trial(self) -> TrialResult | None:
        """Trial 0, the default config, when the study included it."""
        return next((t for t in self.trials if t.number == 0), None)

    @property
    def epochs_saved(self) -> int:
        """Epochs pruning spared: full length minus what pruned trials ran."""
        return sum(self.max_epochs - t.epochs_run for t in self.trials if t.status == PRUNED)

    def frame(self) -> pd.DataFrame:
        """One row per trial: params, fitness, metrics, status, epochs, seconds, error."""
        return trials_frame(self.trials)


def trials_frame(trials: list[TrialResult]) -> pd.DataFrame:
    """A DataFrame of trials (``param_*`` and ``metric_*`` columns, each group by name, so a
    run's table has the same columns in the same order whether it was read back or resumed)."""
    import pandas as pd

    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "number": t.number,
            "status": t.status,
            "fitness": t.fitness,
            "epochs_run": t.epochs_run,
            "seconds": t.seconds,
            "error": t.error,
        }
        row.update({f"param_{k}": v for k, v in t.params.items()})
        row.update({f"metric_{k}": v for k, v in t.metrics.items()})
        row["curve"] = [v for _, v in t.curve]
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not rows:
        return frame
    grouped = sorted(c for c in frame.columns if c.startswith(("param_", "metric_")))
    params = [c for c in grouped if c.startswith("param_")]
    metrics = [c for c in grouped if c.startswith("metric_")]
    first = [c for c in frame.columns if c not in grouped and c != "curve"]
    frame = frame[[*first, *params, *metrics, "curve"]]
    return frame.sort_values("number").reset_index(drop=True)


#: Called after each finished trial (in the driver), e.g. to keep the best weights.
OnTrial = Callable[[TrialResult, "StudyState"], None]


@dataclass
class StudyState:
    """Live view of a running study, for callbacks and progress displays."""

    trials: list[TrialResult]
    budget: int
    best: TrialResult | None = None
    started: float = field(default_factory=time.perf_counter)


class Study:
    """Searches ``space`` for the config that maximises ``objective``'s fitness.

    Args:
        objective: Picklable callable run by the executor for each trial.
        space: The search space.
        settings: Optimizer, budget, pruning, freezing.
        executor: Where trials run; one in-process slot by default.
        journal: Durable sink for finished trials.
        devices: Device of each executor slot (default: CPU for all).
        threads: Torch threads per trial (None: leave as is).
        replay: Journal records of an earlier run to resume from.
    """

    def __init__(
        self,
        objective: Objective,
        space: SearchSpace,
        settings: StudySettings,
        *,
        executor: Executor | None = None,
        journal: Journal | None = None,
        devices: list[str] | None = None,
        threads: int | None = None,
        replay: list[dict[str, Any]] | None = None,
    ) -> None:
        self.objective = objective
        self.space = space
        self.root_space = space
        self.settings = settings
        self.executor = executor or InlineExecutor()
        self.journal = journal or MemoryJournal()
        self.devices = devices or ["cpu"] * self.executor.slots
        self.threads = threads
        self.fitness = Fitness.parse(settings.fitness, settings.direction)
        self.pruner = Pruner(
            settings.pruner, settings.max_epochs, settings.reduction, settings.min_epochs
        )
        self.trials: list[TrialResult] = []
        self.frozen: dict[str, Any] = {}
        self._measured: dict[str, float] = {}  # config key -> fitness told for it
        self._generation = 0
        self._new_optimizer()
        if replay:
            self._replay(replay)
        else:
            self.journal.append(
                {"type": "run", "settings": settings.to_dict(), "space": _space_dict(space)}
            )

    # -- optimizer --------------------------------------------------------------------
    def _new_optimizer(self) -> None:
        names = tuple(p.name for p in self.space.searched)
        optimizer = make_optimizer(
            self.settings.optimizer,
            self.space.parametrization(seed=self.settings.seed + self._generation),
            self.settings.budget,
            self.executor.slots,
            self.settings.optimizer_options,
        )
        avoided = self.suggester.duplicates_avoided if self._generation else 0
        self.suggester = Suggester(
            optimizer,
            names,
            key=self._key,
            seed=self.settings.seed + self._generation,
            duplicates_avoided=avoided,
        )
        self._generation += 1
        for t in self.trials:
            self.suggester.tell_values(t.params, self._told(t))

    def _key(self, values: dict[str, Any]) -> str:
        """Two points with this key train the very same config."""
        return point_key(self.space.complete(values))

    def _told(self, trial: TrialResult) -> float:
        """What the optimizer hears: fitness, or the worst seen for a failed trial."""
        if trial.status != FAILED and math.isfinite(trial.fitness):
            return trial.fitness
        seen = [t.fitness for t in self.trials if t.status != FAILED and math.isfinite(t.fitness)]
        return min([0.0, *seen])

    def _replay(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            kind = record.get("type")
            if kind == "trial":
                trial = TrialResult.from_record(record)
                self.trials.append(trial)
                told = self._told(trial)
                self.suggester.tell_values(trial.params, told)
                self._measured[point_key(trial.params)] = told
                self.pruner.observe(trial.curve)
            elif kind == "freeze":
                self._apply_freeze(dict(record["params"]))

    def _apply_freeze(self, values: dict[str, Any]) -> None:
        self.frozen.update(values)
        self.space = self.space.freeze(values)
        self._new_optimizer()

    # -- main loop --------------------------------------------------------------------
    def run(
        self, *, progress: Progress | None = None, on_trial: OnTrial | None = None
    ) -> StudyResult:
        """Run trials until the budget is spent; Ctrl-C raises :class:`TuningInterrupted`."""
        progress = or_null(progress)
        started = time.perf_counter()
        state = StudyState(self.trials, self.settings.budget, self._best())
        progress.start("tuning", total=self.settings.budget)
        if self.trials:
            progress.advance(len(self.trials), best=_fmt(state.best))
        pending: dict[Any, tuple[int, Any, dict[str, Any], int, int]] = {}
        free_slots = list(range(self.executor.slots))
        next_number = max((t.number for t in self.trials), default=-1) + 1
        try:
            while len(self.trials) + len(pending) < self.settings.budget or pending:
                while free_slots and len(self.trials) + len(pending) < self.settings.budget:
                    slot = free_slots.pop(0)
                    candidate, values = self._next_point(next_number, pending)
                    task = TrialTask(
                        next_number,
                        self.space.complete(values),
                        self.fitness,
                        # the default and enqueued configs (candidate None) run to the end
                        self.pruner.rule() if candidate is not None else PruneRule(),
                        self.devices[slot],
                        self.threads,
                    )
                    handle = self.executor.submit(self.objective, task)
                    pending[handle] = (next_number, candidate, values, slot, self._generation)
                    next_number += 1
                for handle in self.executor.wait_first(list(pending)):
                    number, candidate, values, slot, generation = pending.pop(handle)
                    free_slots.append(slot)
                    result = self._collect(handle, number, values)
                    self._finish(result, candidate, generation)
                    state.best = self._best()
                    if on_trial is not None:
                        on_trial(result, state)
                    progress.advance(1, best=_fmt(state.best), last=result.status)
                    self._maybe_freeze()
        except KeyboardInterrupt:
            self.executor.shutdown(cancel=True)
            raise TuningInterrupted(
                f"stopped after {len(self.trials)} finished trials, all kept in the journal; "
                "run again with --resume to go on"
            ) from None
        except BaseException:  # a callback stopped the search: no worker is left running
            self.executor.shutdown(cancel=True)
            raise
        finally:
            progress.finish()
        self.executor.shutdown()
        return StudyResult(
            trials=sorted(self.trials, key=lambda t: t.number),
            importance=self.importance(),
            frozen=dict(self.frozen),
            seconds=time.perf_counter() - started,
            duplicates_avoided=self.suggester.duplicates_avoided,
            max_epochs=self.settings.max_epochs,
        )

    def _next_point(self, number: int, pending: dict) -> tuple[Any, dict[str, Any]]:
        if number == 0 and self.settings.include_default and not self.trials:
            return None, self.space.defaults()
        running = [p[2] for p in pending.values()]
        queued = self._queued(running)
        if queued is not None:
            return None, queued
        return self.suggester.ask(running, self._measured)

    def _queued(self, running: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first enqueued config neither measured nor running (none once a freeze has
        changed the space: enqueued configs run first, long before a freeze)."""
        if self.frozen:
            return None
        taken = {self._key(values) for values in running} | set(self._measured)
        return next((dict(c) for c in self.settings.enqueued if self._key(c) not in taken), None)

    def _collect(self, handle: Any, number: int, values: dict[str, Any]) -> TrialResult:
        try:
            return self.executor.result(handle)
        except Exception as exc:  # the worker itself died (killed, out of host memory)
            return TrialResult(
                number,
                self.space.complete(values),
                FAILED,
                math.nan,
                {},
                0,
                0.0,
                error=f"worker lost: {type(exc).__name__}",
            )

    def _finish(self, result: TrialResult, candidate: Any, generation: int) -> None:
        self.journal.append(result.record())  # durable first
        self.trials.append(result)
        told = self._told(result)
        if candidate is not None and generation == self._generation:
            self.suggester.tell(candidate, told)
        else:
            self.suggester.tell_values(result.params, told)
        self._measured[point_key(result.params)] = told
        self.pruner.observe(result.curve)

    def _best(self) -> TrialResult | None:
        done = [t for t in self.trials if t.status == OK] or [
            t for t in self.trials if t.status == PRUNED
        ]
        return max(done, key=lambda t: t.fitness) if done else None

    # -- importance and freezing ------------------------------------------------------
    def importance(self) -> pd.DataFrame | None:
        """Importance of the originally searched parameters over the completed trials.

        Pruned trials are left out: their fitness is from an earlier epoch and
        not comparable with a full run's.
        """
        done = [t for t in self.trials if t.status == OK]
        if len(done) < MIN_TRIALS:
            return None
        return parameter_importance(
            self.root_space,
            [t.params for t in done],
            [t.fitness for t in done],
            seed=self.settings.seed,
        )

    def _maybe_freeze(self) -> None:
        s = self.settings
        if not s.freeze_unimportant or self.frozen:
            return
        done = [t for t in self.trials if t.status == OK]
        if len(done) < s.freeze_at or len(self.space.searched) < 2:
            return
        importance = parameter_importance(
            self.space, [t.params for t in done], [t.fitness for t in done], seed=s.seed
        )
        names = unimportant(importance, s.freeze_threshold)
        if not names:
            return
        best = self._best()
        assert best is not None
        values = {n: best.params[n] for n in names}
        self.journal.append(
            {
                "type": "freeze",
                "params": values,
                "after_trials": len(self.trials),
                "importance": importance.to_dict("records"),
            }
        )
        self._apply_freeze(values)


def _fmt(trial: TrialResult | None) -> str:
    return "-" if trial is None else f"{trial.fitness:.4f}"


def _space_dict(space: SearchSpace) -> dict[str, Any]:
    return {p.name: p.to_spec() for p in space.params}
