"""The tuner's own search loop, plus Optuna's TPE as a peer and ask+tell timing.

:class:`BenchStudy` is :class:`tuner.search.study.Study` with two additions a
benchmark needs: the optimizer name ``optuna-TPE`` plugs Optuna's TPE sampler
in place of the Nevergrad optimizer (so the peer runs through exactly the same
trial, journal and best-so-far machinery), and every ask and tell is timed.

The search space maps onto Optuna's distributions one to one: ``log`` →
``FloatDistribution(log=True)``, ``float`` → ``FloatDistribution``, ``int`` →
``IntDistribution``, ``choice`` → ``CategoricalDistribution``. Conditional
parameters (``when``) are only suggested when active, as Optuna's
define-by-run API intends; inactive ones keep their default, as in the tuner.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tuner.search.space import Param, SearchSpace
from tuner.search.study import Study

#: The name that selects Optuna's TPE sampler in :class:`BenchStudy`.
TPE = "optuna-TPE"


def optuna_distribution(param: Param) -> Any:
    """The Optuna distribution of one searched parameter."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if param.kind == "log":
        return FloatDistribution(param.low, param.high, log=True)
    if param.kind == "float":
        return FloatDistribution(param.low, param.high)
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high))
    if param.kind == "choice":
        return CategoricalDistribution(param.choices)
    raise ValueError(f"parameter {param.name!r} is not searched")


def ordered(space: SearchSpace) -> list[Param]:
    """Searched parameters, unconditional ones first (a condition is decided before use)."""
    searched = space.searched
    return [p for p in searched if not p.when] + [p for p in searched if p.when]


def suggest(trial: Any, params: list[Param]) -> dict[str, Any]:
    """Values for ``params`` (in the order of :func:`ordered`) asked of an Optuna trial
    define-by-run: a conditional parameter only when it is active."""
    values: dict[str, Any] = {}
    for p in params:
        if not p.active(values):
            continue
        if p.kind == "choice":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.kind == "log")
    return values


def active_values(params: list[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` of the ``params`` that are active (in the order of :func:`ordered`): what
    an Optuna trial of that config holds."""
    active: dict[str, Any] = {}
    for p in params:
        if p.active({**values, **active}):
            active[p.name] = values[p.name]
    return active


@dataclass
class OptunaSuggester:
    """Optuna's TPE behind the tuner's ``Suggester`` interface (ask / tell / tell_values).

    ``startup`` is TPE's ``n_startup_trials`` (random trials before the model
    is used); ``None`` keeps Optuna's default of 10.
    """

    space: SearchSpace
    seed: int
    startup: int | None = None
    duplicates_avoided: int = 0
    study: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        options: dict[str, Any] = {"seed": self.seed}
        if self.startup is not None:
            options["n_startup_trials"] = self.startup
        self.study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(**options)
        )
        self._params = ordered(self.space)
        self._dists = {p.name: optuna_distribution(p) for p in self._params}

    def ask(
        self, pending: list[Mapping[str, Any]], measured: Mapping[str, float] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Optuna's next trial, as Optuna asks it (no de-duplication: the peer runs as is)."""
        trial = self.study.ask()
        values = suggest(trial, self._params)
        return trial, values

    def tell(self, candidate: Any, fitness: float) -> None:
        self.study.tell(candidate, float(fitness))

    def tell_values(self, values: Mapping[str, Any], fitness: float) -> None:
        """Tell a point Optuna did not ask for (the default config, trial 0)."""
        import optuna

        params = active_values(self._params, values)
        dists = {k: self._dists[k] for k in params}
        self.study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dists, value=float(fitness))
        )


@dataclass
class Timed:
    """Wraps a suggester and adds up the seconds spent in ask and tell."""

    inner: Any
    seconds: float = 0.0
    calls: int = 0

    @property
    def duplicates_avoided(self) -> int:
        return int(self.inner.duplicates_avoided)

    def ask(
        self, pending: list[Mapping[str, Any]], measured: Mapping[str, float] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        start = time.perf_counter()
        try:
            return self.inner.ask(pending, measured)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def tell(self, candidate: Any, fitness: float) -> None:
        start = time.perf_counter()
        try:
            self.inner.tell(candidate, fitness)
        finally:
            self.seconds += time.perf_counter() - start

    def tell_values(self, values: Mapping[str, Any], fitness: float) -> None:
        start = time.perf_counter()
        try:
            self.inner.tell_values(values, fitness)
        finally:
            self.seconds += time.perf_counter() - start


class BenchStudy(Study):
    """A :class:`Study` that also knows ``optuna-TPE`` and times the optimizer.

    ``optimizer_options`` of ``optuna-TPE`` may hold ``n_startup_trials``.
    ``optimizer_seconds`` is the time spent in ask and tell (construction excluded).
    """

    def _new_optimizer(self) -> None:
        if self.settings.optimizer == TPE:
            startup = self.settings.optimizer_options.get("n_startup_trials")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inner: Any = OptunaSuggester(self.space, self.settings.seed, startup)
            self._generation += 1
            self.suggester = Timed(inner)  # type: ignore[assignment]
            for t in self.trials:
                self.suggester.tell_values(t.params, self._told(t))
            return
        super()._new_optimizer()
        self.suggester = Timed(self.suggester)  # type: ignore[assignment]

    @property
    def optimizer_seconds(self) -> float:
        """Seconds spent in the optimizer's ask and tell so far."""
        return float(self.suggester.seconds)  # type: ignore[attr-defined]


def default_task(
    space: SearchSpace, fitness: str, device: str = "cpu", threads: int | None = 1, number: int = 0
) -> Any:
    """A trial task for the space's default config, never pruned."""
    from tuner.search.fitness import Fitness
    from tuner.search.pruning import PruneRule
    from tuner.search.trial import TrialTask

    params = space.complete(space.defaults())
    return TrialTask(number, params, Fitness.parse(fitness), PruneRule(), device, threads)


def warm_up(
    executor: Any,
    objective: Any,
    space: SearchSpace,
    fitness: str,
    device: str = "cpu",
    threads: int | None = 1,
) -> None:
    """One trial per worker slot, all at once: processes up, imports done, data decoded.

    Measured runs then see the steady state of a long search, not process start-up.
    """
    task = default_task(space, fitness, device, threads, number=-1)
    handles = [executor.submit(objective, task) for _ in range(executor.slots)]
    pending = list(handles)
    while pending:
        done = executor.wait_first(pending)
        pending = [h for h in pending if h not in done]
    for handle in handles:
        result = executor.result(handle)
        if result.status == "failed":
            raise RuntimeError(f"warm-up trial failed: {result.error}")
