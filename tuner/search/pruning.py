"""Early stopping of weak trials: asynchronous successive halving and the median rule.

The driver keeps a :class:`Pruner` with every reported learning curve. When it
starts a trial it hands over a :class:`PruneRule`, a snapshot of that history,
which travels with the trial to whichever worker runs it (a local process or a
Dask worker) and decides there, after each epoch, whether to stop. With one
worker the snapshot is always current; with several, a trial is judged against
the curves that had finished when it started.

What the optimizer is told for a pruned trial: the fitness at its last
evaluated epoch. It is a pessimistic estimate of where the trial would have
ended, which is what pruning concluded about it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from tuner.errors import ConfigError

PRUNERS = ("asha", "median", "none")


@dataclass(frozen=True)
class PruneRule:
    """A picklable snapshot of the pruning history; ``should_stop`` decides per epoch."""

    method: str = "none"
    history: dict[int, tuple[float, ...]] = field(default_factory=dict)
    rungs: tuple[int, ...] = ()
    reduction: int = 3
    min_epochs: int = 1
    min_trials: int = 3

    def should_stop(self, epoch: int, value: float) -> bool:
        """Whether a trial whose fitness at ``epoch`` is ``value`` should stop now."""
        if self.method == "none" or epoch < self.min_epochs:
            return False
        others = self.history.get(epoch, ())
        if self.method == "median":
            return len(others) >= self.min_trials and value < statistics.median(others)
        if epoch not in self.rungs:
            return False
        # ASHA: go on only when in the top 1/reduction of the trials that reached this
        # rung. Until a rung holds `reduction` trials that top share is empty, so a
        # newcomer goes on only if it leads the rung (as Optuna's ASHA does): waiting
        # for the rung to fill would let the first trials all run to the end.
        ranked = sorted([*others, value], reverse=True)
        keep = max(1, len(ranked) // self.reduction)
        return value < ranked[keep - 1]


@dataclass
class Pruner:
    """Collects learning curves and issues :class:`PruneRule` snapshots.

    Args:
        method: ``asha`` (successive halving over epoch rungs), ``median`` or ``none``.
        max_epochs: Epochs of a full trial.
        reduction: ASHA's reduction factor η: rungs at min_epochs·η^k, top 1/η go on.
        min_epochs: No trial is stopped before this epoch.
        min_trials: The median rule waits for this many curves at an epoch.
    """

    method: str = "asha"
    max_epochs: int = 6
    reduction: int = 3
    min_epochs: int = 1
    min_trials: int = 3
    _curves: dict[int, list[float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.method not in PRUNERS:
            raise ConfigError(f"pruner {self.method!r} is unknown; use one of {', '.join(PRUNERS)}")
        if self.reduction < 2:
            raise ConfigError("pruner reduction factor must be 2 or more")
        if self.min_epochs < 1:
            raise ConfigError("pruner min_epochs must be 1 or more")

    @property
    def rungs(self) -> tuple[int, ...]:
        """Epochs at which ASHA compares trials (never the last epoch)."""
        rungs, epoch = [], self.min_epochs
        while epoch < self.max_epochs:
            rungs.append(epoch)
            epoch *= self.reduction
        return tuple(rungs)

    def observe(self, curve: Iterable[tuple[int, float]]) -> None:
        """Record a trial's (epoch, fitness) curve."""
        for epoch, value in curve:
            self._curves.setdefault(int(epoch), []).append(float(value))

    def rule(self) -> PruneRule:
        """A snapshot for the next trial to carry."""
        return PruneRule(
            method=self.method,
            history={e: tuple(v) for e, v in self._curves.items()},
            rungs=self.rungs,
            reduction=self.reduction,
            min_epochs=self.min_epochs,
            min_trials=self.min_trials,
        )
