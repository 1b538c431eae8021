from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tuner.errors import ConfigError
from tuner.search.optimizers import (
    DEFAULT_OPTIMIZER,
    EXPLORING,
    PAIR,
    RECENTRING,
    Suggester,
    make_optimizer,
    point_key,
)
from tuner.search.stall import ExploreOnStall
from tuner.search.study import Study, StudySettings
from tuner.testing import QuadraticObjective, quadratic_space


def _asks(
    name: str, losses: list[float], options: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], Any]:
    """The values asked, one at a time, each told the next loss of ``losses``.

    (The lognormal mutations draw from NumPy's global generator: seeded alike for each.)
    """
    optimizer = make_optimizer(name, quadratic_space().parametrization(seed=5), 40, 1, options)
    np.random.seed(0)
    values = []
    for loss in losses:
        candidate = optimizer.ask()
        values.append(dict(candidate.value))
        optimizer.tell(candidate, loss)
    return values, optimizer


def test_until_a_stall_it_asks_exactly_what_the_pair_asks() -> None:
    improving = [-float(i) for i in range(25)]  # every result a new best: never stalled
    pair, _ = _asks(PAIR, improving)
    exploring, optimizer = _asks(EXPLORING, improving)
    assert exploring == pair
    assert optimizer.explorer_asks == 0


def test_after_patience_results_without_a_new_best_one_ask_in_every_explores() -> None:
    losses = [-1.0] + [0.0] * 29  # the first result stays the best
    pair, _ = _asks(PAIR, losses)
    exploring, optimizer = _asks(EXPLORING, losses, {"patience": 4, "every": 3})
    # results 2-5 do not improve: from ask 6 on, asks 6, 9, 12, ... sample the whole space.
    assert exploring[:5] == pair[:5]
    assert exploring[5] != pair[5]
    assert optimizer.explorer_asks == len(range(5, 30, 3))


def test_wait_re_centres_at_patience_and_explores_only_after_the_longer_stall() -> None:
    losses = [-1.0] + [0.0] * 19  # the first result stays the best
    recentring, _ = _asks(EXPLORING, losses, {"patience": 3, "every": 0, "recentre": True})
    late, optimizer = _asks(
        EXPLORING, losses, {"patience": 3, "every": 2, "recentre": True, "wait": 8}
    )
    # results 2-9 do not improve: re-centred after result 4 like the default, random asks
    # from ask 10 on (10, 12, ...), the default's asks until then.
    assert late[:9] == recentring[:9]
    assert late[9] != recentring[9]
    assert optimizer.recentred == 1
    assert optimizer.explorer_asks == len(range(9, 20, 2))


def test_wait_zero_waits_patience_and_a_negative_wait_is_refused() -> None:
    losses = [-1.0] + [0.0] * 11
    default, _ = _asks(EXPLORING, losses, {"patience": 4, "every": 3})
    zero, _ = _asks(EXPLORING, losses, {"patience": 4, "every": 3, "wait": 0})
    assert zero == default
    with pytest.raises(ConfigError, match="wait must be a whole number of 0 or more"):
        make_optimizer(EXPLORING, quadratic_space().parametrization(), 10, 1, {"wait": -1})
    for bad in ({"patience": "x"}, {"wait": 2.5}, {"every": True}):
        with pytest.raises(ConfigError, match="must be a whole number"):
            make_optimizer(EXPLORING, quadratic_space().parametrization(), 10, 1, bad)
    # the same rules where the class is built directly, in Python
    with pytest.raises(ValueError, match=r"every must be a whole number of 0 or more, not -1"):
        ExploreOnStall(inner=("OnePlusOne",), every=-1)


def test_a_new_best_ends_the_exploration() -> None:
    losses = [-1.0] + [0.0] * 3 + [-2.0] + [0.0] * 2
    _, optimizer = _asks(EXPLORING, losses, {"patience": 3, "every": 1})
    # stalled after result 4, so ask 5 explored; its result was a new best: no more.
    assert optimizer.explorer_asks == 1
    assert not optimizer.stalled


def test_the_strategies_hear_the_random_configs() -> None:
    space = quadratic_space()
    optimizer = make_optimizer(
        EXPLORING, space.parametrization(seed=1), 40, 1, {"patience": 2, "every": 1}
    )
    suggester = Suggester(optimizer, tuple(p.name for p in space.searched), seed=1)
    measured: dict[str, float] = {}
    for fitness in (1.0, 0.0, 0.0):  # the first stays the best: stalled after the third
        candidate, values = suggester.ask([], measured)
        suggester.tell(candidate, fitness)
        measured[point_key(values)] = fitness
    explored, _ = suggester.ask([], measured)
    assert optimizer.explorer_asks == 1
    suggester.tell(explored, 5.0)
    # in the archive each (1+1) strategy's crossovers draw good configs from
    data = explored.get_standardized_data(reference=optimizer.parametrization)
    for strategy in optimizer.inner.optims:
        assert strategy.archive[data].mean == -5.0


def test_a_study_with_it_runs_resumes_and_checks_its_options() -> None:
    settings = StudySettings(
        optimizer=EXPLORING, budget=16, pruner="none", optimizer_options={"patience": 3}
    )
    result = Study(QuadraticObjective(), quadratic_space(), settings).run()
    assert len(result.trials) == 16
    assert len({str(sorted(t.params.items())) for t in result.trials}) == 16
    assert result.best is not None and result.best.fitness >= result.default_trial.fitness
    unknown = "has no option 'popsize'; its options: patience, every, recentre, wait"
    with pytest.raises(ConfigError, match=unknown):
        Study(
            QuadraticObjective(),
            quadratic_space(),
            StudySettings(optimizer=EXPLORING, optimizer_options={"popsize": 4}),
        )
    maybe = StudySettings(optimizer=EXPLORING, optimizer_options={"recentre": "maybe"})
    with pytest.raises(ConfigError, match="recentre must be true or false"):
        Study(QuadraticObjective(), quadratic_space(), maybe)
    with pytest.raises(ConfigError, match="patience must be a whole number of 1 or more"):
        Study(
            QuadraticObjective(),
            quadratic_space(),
            StudySettings(optimizer=EXPLORING, optimizer_options={"patience": 0}),
        )


def test_recentre_makes_the_best_config_the_parent_after_a_stall() -> None:
    space = quadratic_space()
    optimizer = make_optimizer(
        EXPLORING,
        space.parametrization(seed=2),
        40,
        1,
        {"patience": 3, "every": 0, "recentre": True},
    )
    suggester = Suggester(optimizer, tuple(p.name for p in space.searched), seed=2)
    measured: dict[str, float] = {}
    told = []
    for fitness in (0.5, 0.5, 0.9, 0.1, 0.1, 0.1):  # best: the third; stalled after the sixth
        candidate, values = suggester.ask([], measured)
        suggester.tell(candidate, fitness)
        measured[point_key(values)] = fitness
        told.append(values)
    assert optimizer.recentred == 1 and optimizer.explorer_asks == 0
    for strategy in optimizer.inner.optims:
        assert strategy.current_bests["pessimistic"].parameter.value == told[2]


def test_the_default_is_the_pair_recentred_after_three_results_without_a_new_best() -> None:
    losses = [0.0, 0.0, -1.0] + [0.0] * 17  # the third result stays the best
    pair, _ = _asks(PAIR, losses)
    recentring, _ = _asks(EXPLORING, losses, RECENTRING)
    default, optimizer = _asks(DEFAULT_OPTIMIZER, losses)
    assert default == recentring
    # results 4-6 do not improve: ask 7 on mutate the third config, the pair's the centre.
    assert default[:6] == pair[:6] and default[6:] != pair[6:]
    assert optimizer.recentred == 1 and optimizer.explorer_asks == 0
    with pytest.raises(ConfigError, match="takes no options"):
        make_optimizer(DEFAULT_OPTIMIZER, quadratic_space().parametrization(), 9, 1, {"every": 2})
