"""The searches `benchmarks.peers` compares, each run until it has spent an epoch budget.

Every method sees the same objective (the problem's, trained with the search's
seed), the same search space and the same first config (the space's default,
as trial 0 of ``hyperseal tune``), and reports after every epoch. What each
one spends is counted in epochs trained: a trial pruned after epoch 1 costs 1,
a full trial costs the problem's epochs. A trial counts towards the best found
only when it ran all the epochs (a pruned trial's score is of a shorter
training, which a user could not ship).

- ``hyperseal``: ``Study`` with ``DEFAULT_OPTIMIZER`` and its ASHA (reduction 3),
  sized for a number of trials (``hyperseal tune --budget``), as a user runs it.
- ``random+ASHA``: ``Study`` with Nevergrad's ``RandomSearch`` and the same ASHA.
- ``TPE+Hyperband``, ``TPE+SHA``: Optuna's ``TPESampler`` (its defaults, seeded)
  with ``HyperbandPruner(min_resource=1, max_resource=EPOCHS)`` (reduction 3 by
  default) or ``SuccessiveHalvingPruner()`` (all defaults), run by Optuna's
  own ``study.optimize``; the default config is enqueued first.
- ``SMAC-MF``: SMAC3's ``MultiFidelityFacade`` (random-forest model, Hyperband
  intensifier, eta 3) with budgets 1…EPOCHS epochs, driven by ask and tell; its
  initial design gets the default config as an additional config. A SMAC trial
  at budget b trains the first b epochs of the full trial's schedule (as a
  pruned trial does), from scratch.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks._search import active_values, ordered, suggest
from tuner.search.fitness import Fitness
from tuner.search.pruning import PruneRule
from tuner.search.space import Param, SearchSpace
from tuner.search.trial import TrialContext

#: Study-based methods: label -> Nevergrad optimizer.
STUDY_METHODS = {"hyperseal": None, "random+ASHA": "RandomSearch"}
PEER_METHODS = ("TPE+Hyperband", "TPE+SHA", "SMAC-MF")
METHODS = (*STUDY_METHODS, *PEER_METHODS)


@dataclass(frozen=True)
class Search:
    """What every method gets: the objective (trained with ``seed``), its space, the
    fitness, the epochs of a full trial, the seed of the search."""

    objective: Any
    space: SearchSpace
    fitness: str
    epochs: int
    seed: int


class _Spent(Exception):
    """Raised inside a search when the epoch budget is spent."""


@dataclass
class Ledger:
    """What a search spent and found, trial by trial: (epochs so far, seconds so far, fitness
    of a full trial or None)."""

    budget: int
    epochs: int = 0
    started: float = field(default_factory=time.perf_counter)
    events: list[tuple[int, float, float | None]] = field(default_factory=list)

    def add(self, epochs: int, fitness: float | None) -> None:
        self.epochs += epochs
        self.events.append((self.epochs, time.perf_counter() - self.started, fitness))

    @property
    def spent(self) -> bool:
        return self.epochs >= self.budget


@dataclass
class _Stopping(TrialContext):
    """A trial context that also stops at ``stop_at`` epochs or when ``judge`` says so."""

    stop_at: int = 0
    judge: Callable[[int, float], bool] | None = None

    def report(self, epoch: int, metrics: dict[str, float]) -> bool:
        super().report(epoch, metrics)
        if self.judge is not None and self.judge(epoch, self.curve[-1][1]):
            self.pruned = True
        return self.pruned or (0 < self.stop_at <= epoch)


def _evaluate(
    search: Search,
    params: dict[str, Any],
    fitness: Fitness,
    number: int,
    stop_at: int = 0,
    judge: Callable[[int, float], bool] | None = None,
) -> _Stopping:
    ctx = _Stopping(number, fitness=fitness, rule=PruneRule(), stop_at=stop_at, judge=judge)
    search.objective(params, ctx)
    return ctx


def _final(ctx: _Stopping, epochs: int) -> float | None:
    """The fitness of a trial that ran all ``epochs`` (None when it stopped before)."""
    if ctx.pruned or not ctx.curve or ctx.curve[-1][0] < epochs:
        return None
    return ctx.curve[-1][1]


# -- hyperseal's own loop ---------------------------------------------------------------
def run_study(method: str, search: Search, ledger: Ledger, trials: int, default: str = "") -> None:
    """``hyperseal``: ``trials`` trials as ``hyperseal tune --budget`` runs them (read at the
    ledger's budget afterwards); ``random+ASHA``: trials until the ledger is spent; any other
    ``method``, a candidate ``NAME[:key=value,...]`` (a Nevergrad optimizer or one of the
    tuner's, with options as ``--optimizer-option`` takes them): as random search, trials
    until the ledger is spent (sized for an open budget)."""
    from tuner.search.optimizers import DEFAULT_OPTIMIZER
    from tuner.search.study import Study, StudySettings

    options: dict[str, Any] = {}
    if method in STUDY_METHODS:
        optimizer = STUDY_METHODS[method] or default or DEFAULT_OPTIMIZER
    else:
        optimizer, options = parse_candidate(method)
    capped = method != "hyperseal"
    budget = 100_000 if capped else trials
    settings = StudySettings(
        optimizer=optimizer,
        optimizer_options=options,
        budget=budget,
        seed=search.seed,
        fitness=search.fitness,
        pruner="asha",
        max_epochs=search.epochs,
    )

    def on_trial(result: Any, state: Any) -> None:
        done = result.status == "ok" and result.epochs_run >= search.epochs
        ledger.add(result.epochs_run, result.fitness if done else None)
        if capped and ledger.spent:
            raise _Spent

    with contextlib.suppress(_Spent):
        Study(search.objective, search.space, settings).run(on_trial=on_trial)


# -- Optuna -----------------------------------------------------------------------------
def run_optuna(method: str, search: Search, ledger: Ledger) -> None:
    """TPE with Optuna's Hyperband or successive-halving pruner, until the ledger is spent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=search.epochs)
        if method == "TPE+Hyperband"
        else optuna.pruners.SuccessiveHalvingPruner()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=search.seed),
            pruner=pruner,
        )
    study.enqueue_trial(active_values(ordered(search.space), search.space.defaults()))
    score = Fitness.parse(search.fitness)

    def optuna_objective(trial: Any) -> float:
        values = suggest(trial, ordered(search.space))

        def judge(epoch: int, value: float) -> bool:
            trial.report(value, epoch)
            return bool(trial.should_prune())

        ctx = _evaluate(search, search.space.complete(values), score, trial.number, judge=judge)
        final = _final(ctx, search.epochs)
        ledger.add(len(ctx.curve), final)
        if ctx.pruned:
            raise optuna.TrialPruned
        return ctx.curve[-1][1] if ctx.curve else float("-inf")

    def stop(study_: Any, _trial: Any) -> None:
        if ledger.spent:
            study_.stop()

    study.optimize(optuna_objective, callbacks=[stop], catch=())


# -- SMAC3 ------------------------------------------------------------------------------
def configspace(space: SearchSpace, seed: int) -> Any:
    """The search space as a ConfigSpace ``ConfigurationSpace`` (defaults kept, conditions
    as ``EqualsCondition``/``InCondition``)."""
    from ConfigSpace import (
        Categorical,
        ConfigurationSpace,
        EqualsCondition,
        Float,
        InCondition,
        Integer,
    )

    cs = ConfigurationSpace(seed=seed)
    made: dict[str, Any] = {}
    for p in space.searched:
        made[p.name] = _hyperparameter(p, Categorical, Float, Integer)
    cs.add(list(made.values()))
    for p in space.searched:
        for parent, allowed in p.when:
            child, up = made[p.name], made[parent]
            cs.add(
                EqualsCondition(child, up, allowed[0])
                if len(allowed) == 1
                else InCondition(child, up, list(allowed))
            )
    return cs


def _hyperparameter(p: Param, categorical: Any, floating: Any, integer: Any) -> Any:
    if p.kind == "choice":
        return categorical(p.name, list(p.choices), default=p.default)
    if p.kind == "int":
        return integer(p.name, (int(p.low), int(p.high)), default=int(p.default))
    return floating(p.name, (p.low, p.high), default=float(p.default), log=p.kind == "log")


def run_smac(search: Search, ledger: Ledger) -> None:
    """SMAC3's multi-fidelity facade (Hyperband), ask and tell, until the ledger is spent."""
    import logging

    from smac import MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    logging.getLogger("smac").setLevel(logging.ERROR)
    cs = configspace(search.space, search.seed)
    score = Fitness.parse(search.fitness)
    with tempfile.TemporaryDirectory(prefix="smac-") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scenario = Scenario(
            cs,
            name=f"peers-{search.seed}",
            output_directory=out,
            deterministic=True,
            n_trials=100_000,
            min_budget=1,
            max_budget=search.epochs,
            seed=search.seed,
        )
        design = MultiFidelityFacade.get_initial_design(
            scenario, additional_configs=[cs.get_default_configuration()]
        )
        smac = MultiFidelityFacade(
            scenario, _unused_target, initial_design=design, overwrite=True, logging_level=40
        )
        number = 0
        while not ledger.spent:
            info = smac.ask()
            budget = max(1, min(search.epochs, round(info.budget or search.epochs)))
            values = search.space.complete(dict(info.config))
            ctx = _evaluate(search, values, score, number, stop_at=budget)
            number += 1
            ledger.add(len(ctx.curve), _final(ctx, search.epochs))
            value = ctx.curve[-1][1] if ctx.curve else float("-inf")
            smac.tell(info, TrialValue(cost=-value if value == value else 1e9))


def _unused_target(config: Any, seed: int = 0, budget: float = 0.0) -> float:
    """SMAC wants a target function; the ask-and-tell loop above never calls it."""
    raise NotImplementedError


def run_method(
    method: str, search: Search, budget_epochs: int, trials: int, default: str = ""
) -> Ledger:
    """Run ``method`` until it has spent ``budget_epochs`` (``hyperseal``: ``trials``
    trials, of ``default`` when given instead of the tuner's default; a candidate optimizer,
    see :func:`run_study`); what it spent and found."""
    ledger = Ledger(budget_epochs)
    if method == "SMAC-MF":
        run_smac(search, ledger)
    elif method in PEER_METHODS:
        run_optuna(method, search, ledger)
    else:
        run_study(method, search, ledger, trials, default)
    return ledger


def parse_candidate(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME:key=value,...`` as an optimizer name and its options."""
    from benchmarks.search_efficiency import parse_method

    method = parse_method(text)
    return method.optimizer, method.kwargs
