"""A strategy that explores the whole space once it has stopped improving.

A (1+1) strategy keeps mutating one parent config (the two of
:data:`tuner.search.optimizers.PAIR` keep their starting point), and on a noisy
problem a config that scored well partly by the luck of its training is not
beaten by its neighbours: the search stops improving for the rest of the
budget. :class:`ExploreOnStall` wraps such a strategy: until ``patience``
results in a row have failed to improve the best, every ask is the wrapped
strategy's (so the search is exactly that strategy's); from then on (or from
``wait`` results without a new best, when given), one ask in ``every`` samples
the whole space at random, until a result improves the best again. Every
result is told to both, so the random configs join the archive from which the
(1+1) strategies' crossovers draw good configs.

With ``recentre``, a stall also tells the strategies the best config's result
a second time, which makes it their parent (Nevergrad's (1+1) strategies rank
a point with two results above any with one): the local search moves its
centre to the best config found. ``every=0`` turns the random asks off.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import nevergrad as ng
from nevergrad.common import errors
from nevergrad.optimization import base

from tuner.search.family_options import EXPLORING_RULES, refused


class _ExploreOnStall(base.Optimizer):
    """Nevergrad optimizer: ``inner``'s asks, with random ones mixed in after a stall."""

    def __init__(
        self,
        parametrization: Any,
        budget: int | None = None,
        num_workers: int = 1,
        *,
        config: ExploreOnStall,
    ) -> None:
        super().__init__(parametrization, budget=budget, num_workers=num_workers)
        cfg = config
        self.patience = cfg.patience
        self.every = cfg.every
        self.recentre = cfg.recentre
        self.wait = cfg.wait or cfg.patience
        inner = ng.families.ConfPortfolio(optimizers=list(cfg.inner))
        self.inner = inner(self.parametrization, budget=budget, num_workers=num_workers)
        self.explorer = ng.optimizers.registry["RandomSearch"](
            self.parametrization, budget=budget, num_workers=num_workers
        )
        self.best = math.inf
        self.best_candidate: Any = None
        self.since_best = 0
        self.recentred = 0
        self.stalled_asks = 0
        self.explorer_asks = 0

    @property
    def stalled(self) -> bool:
        """Whether ``patience`` results in a row have not improved the best."""
        return self.since_best >= self.patience

    def _internal_ask_candidate(self) -> Any:
        if self.since_best >= self.wait and self.every:
            self.stalled_asks += 1
            if self.stalled_asks % self.every == 1 or self.every == 1:
                self.explorer_asks += 1
                return self.explorer.ask()
        return self.inner.ask()

    def _internal_tell_candidate(self, candidate: Any, loss: Any) -> None:
        loss = float(loss)
        if loss < self.best:
            self.best, self.best_candidate = loss, candidate
            self.since_best, self.stalled_asks = 0, 0
        else:
            self.since_best += 1
        for optimizer in (self.inner, self.explorer):
            with contextlib.suppress(errors.TellNotAskedNotSupportedError):
                optimizer.tell(candidate, loss)
        if self.recentre and self.since_best == self.patience:
            # A second record of the best config makes it the strategies' parent.
            self.inner.tell(self.best_candidate, self.best)
            self.recentred += 1

    def enable_pickling(self) -> None:
        self.inner.enable_pickling()
        self.explorer.enable_pickling()


class ExploreOnStall(base.ConfiguredOptimizer):
    """Configures :class:`_ExploreOnStall`.

    Args:
        inner: Names of the strategies whose asks alternate (Nevergrad's ``ConfPortfolio``);
            :func:`tuner.search.optimizers.make_optimizer` passes
            :data:`~tuner.search.optimizers.PAIR`'s.
        patience: Results in a row without a new best before exploring.
        every: Once stalled, one ask in ``every`` is a random config (the first among them);
            0: none.
        recentre: On each stall, make the best config the strategies' parent.
        wait: Results in a row without a new best before the random asks start (0: ``patience``),
            so a search can re-centre first and explore only after a longer stall.
    """

    def __init__(
        self,
        *,
        inner: tuple[str, ...],
        patience: int = 10,
        every: int = 2,
        recentre: bool = False,
        wait: int = 0,
    ) -> None:
        _check(patience=patience, every=every, recentre=recentre, wait=wait)
        super().__init__(_ExploreOnStall, locals(), as_config=True)
        self.inner = tuple(inner)
        self.patience = patience
        self.every = every
        self.recentre = recentre
        self.wait = wait


def _check(**options: Any) -> None:
    """Refuse an option value :data:`~tuner.search.family_options.EXPLORING_RULES` refuses
    (a check apart: ``ConfiguredOptimizer`` records the constructor's locals)."""
    wrong = refused(EXPLORING_RULES, options)
    if wrong:
        raise ValueError(wrong)
