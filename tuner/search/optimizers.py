"""Nevergrad optimizers: by name, sized for small budgets, with de-duplicated asks.

Any name of ``nevergrad.optimizers.registry`` works, and so do hyperseal's own
compositions of them (:data:`COMPOSED`, and the default built on them). The configurable families
(``ParametrizedBO``, ``ParametrizedCMA``, ``DifferentialEvolution``,
``ConfPSO``, ``ParametrizedOnePlusOne``) take options. Tuning budgets are
small (20-50 trials), so by default the population-based optimizers DE,
TwoPointsDE, PSO and CMA get a population of about budget/5: with their
standard populations they would spend the whole budget on their random
initial population.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tuner.errors import ConfigError
from tuner.search.family_options import EXPLORING_RULES, REFUSALS, bad_options, checked_options

#: The optimizers ``hyperseal tune --list-optimizers`` recommends, by family.
RECOMMENDED: dict[str, tuple[str, ...]] = {
    "evolutionary": ("OnePlusOne", "DE", "TwoPointsDE", "CMA", "PSO", "NGOpt"),
    "bayesian": ("BO", "ParametrizedBO"),
}
#: Two copies of a (1+1) evolution strategy with crossover whose mutation rates adapt
#: themselves (lognormal updates); their asks alternate, each is told every result
#: (Nevergrad's ConfPortfolio). The default until 2026-12-07, and the default's core.
PAIR = "DualRecombiningDiscreteLognormalOnePlusOne"
#: Optimizers hyperseal composes from Nevergrad's, by name.
COMPOSED: dict[str, tuple[str, ...]] = {PAIR: ("RecombiningDiscreteLognormalOnePlusOne",) * 2}
#: The default: :data:`PAIR`, re-centred on the best config found whenever ``patience`` (3,
#: :data:`RECENTRING`) results in a row have not improved it
#: (:mod:`tuner.search.stall`). Why: with ASHA on the demo's problem, at the pair's epochs, it
#: found the better config on more seeds than the pair (13 won, 5 lost of 24 at 40 trials; 8 / 3
#: at 20; not significant), level on the MLP, and had the highest median best against the
#: tuners a user would otherwise pick (docs/benchmarks.md, "Candidates for the default");
#: tests/tuner/search/test_stall.py pins what it asks.
DEFAULT_OPTIMIZER = "RecentringDualRecombiningDiscreteLognormalOnePlusOne"
#: The options of :class:`tuner.search.stall.ExploreOnStall` that make the default.
RECENTRING: Mapping[str, Any] = MappingProxyType({"patience": 3, "every": 0, "recentre": True})
#: :data:`PAIR`, plus one ask in ``every`` (2) drawn from the whole space once ``patience``
#: (10) results in a row have not improved the best; ``recentre`` moves its parent to the
#: best config (:mod:`tuner.search.stall`); the default is this with :data:`RECENTRING`.
#: A user's choice (docs/benchmarks.md, "Exploring after a stall").
EXPLORING = "ExploringDualRecombiningDiscreteLognormalOnePlusOne"
_POPULATION_BASED = {"DE", "TwoPointsDE", "PSO", "CMA"}
_FAMILIES = (
    "ParametrizedBO",
    "ParametrizedCMA",
    "DifferentialEvolution",
    "ConfPSO",
    "ParametrizedOnePlusOne",
)


def population_for(budget: int) -> int:
    """Population of a population-based optimizer for ``budget`` trials (about 5 generations)."""
    return max(4, min(30, budget // 5))


def make_optimizer(
    name: str,
    parametrization: Any,
    budget: int,
    workers: int = 1,
    options: Mapping[str, Any] | None = None,
    *,
    size_for_budget: bool = True,
) -> Any:
    """Instantiate the optimizer ``name`` over ``parametrization``.

    Raises:
        ConfigError: Unknown name, or options given to an optimizer that takes none.
    """
    import nevergrad as ng

    options = dict(options or {})
    if "CMA" in name and parametrization.dimension < 2:
        # CMA needs two dimensions or more (Nevergrad hands 1-D CMA to fcmaes, not installed).
        name, options = "OnePlusOne", {}
    if (name in COMPOSED or name == DEFAULT_OPTIMIZER) and options:
        raise ConfigError(f"optimizer {name} takes no options; {EXPLORING} does")
    if name == DEFAULT_OPTIMIZER:  # the exploring composition with fixed options
        name, options = EXPLORING, dict(RECENTRING)
    if name in COMPOSED:
        configured = ng.families.ConfPortfolio(optimizers=list(COMPOSED[name]))
    elif name == EXPLORING:
        from tuner.search.stall import ExploreOnStall

        options = checked_options(name, ExploreOnStall, options, rules=EXPLORING_RULES)
        configured = ExploreOnStall(inner=COMPOSED[PAIR], **options)
    elif name in _FAMILIES:
        family = getattr(ng.families, name)
        options = checked_options(name, family, options)
        try:
            configured = family(**options)
        except REFUSALS as exc:
            raise bad_options(name, options, exc) from None
    elif name in ng.optimizers.registry:
        if options:
            raise ConfigError(
                f"optimizer {name} takes no options; use one of the families {', '.join(_FAMILIES)}"
            )
        configured = ng.optimizers.registry[name]
        if size_for_budget and name in _POPULATION_BASED:
            configured = _sized(name, population_for(budget))
    else:
        raise ConfigError(
            f"unknown optimizer {name!r}; `hyperseal tune --list-optimizers` shows the choices"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return configured(parametrization=parametrization, budget=budget, num_workers=workers)


def check_optimizer(
    name: str,
    parametrization: Any,
    budget: int,
    workers: int = 1,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Build the optimizer ``name`` and ask it for one point, told back at once.

    Nevergrad checks most options of its families only when the optimizer first
    asks, so a bad value shows here, before any trial runs. The global NumPy
    random state is left as it was.

    Raises:
        ConfigError: Unknown name, or options the optimizer refuses.
    """
    import numpy as np

    state = np.random.get_state()
    try:
        optimizer = make_optimizer(name, parametrization, budget, workers, options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer.tell(optimizer.ask(), 0.0)
    except REFUSALS as exc:
        raise bad_options(name, options or {}, exc) from None
    finally:
        np.random.set_state(state)


def _sized(name: str, popsize: int) -> Any:
    import nevergrad as ng

    if name == "DE":
        return ng.families.DifferentialEvolution(popsize=popsize)
    if name == "TwoPointsDE":
        return ng.families.DifferentialEvolution(crossover="twopoints", popsize=popsize)
    if name == "PSO":
        return ng.families.ConfPSO(transform="arctan", popsize=popsize)
    return ng.families.ParametrizedCMA(popsize=popsize)


def list_optimizers() -> dict[str, tuple[str, ...]]:
    """Recommended optimizers by family, hyperseal's compositions, the families that take
    ``options``, and the registry's names."""
    import nevergrad as ng

    return {
        **RECOMMENDED,
        "composed": (DEFAULT_OPTIMIZER, *COMPOSED, EXPLORING),
        "configurable": (*_FAMILIES, EXPLORING),
        "registry": tuple(sorted(ng.optimizers.registry)),
    }


@dataclass
class Suggester:
    """Asks an optimizer for new points, never spending a trial on a point seen before.

    A point is the same as another when ``key`` maps both to the same string
    (by default: equal values of the searched parameters; the tuner's study
    passes a key of the complete training config, so two asks that differ only
    below the config's precision or in an inactive parameter are the same).

    - A point equal to a *measured* one (an earlier trial; same config and seed
      give the same result) is told that trial's fitness at once and the
      optimizer is asked again: a (1+1) strategy whose mutation lands back on
      a measured config would otherwise re-run it. (The point then has two
      records, which Nevergrad's (1+1) strategies rank above points with one:
      see :data:`PAIR`. Not telling it was measured too, and
      searched worse: docs/benchmarks.md.)
    - A point equal to a *pending* one (BO in particular returns the same point
      to every pending ask) is told a constant lie (the mean fitness so far)
      and the optimizer is asked again.

    After ``retries`` such asks a random point of the space is used instead
    (and told later as not-asked).

    Some Nevergrad mutations (the self-adaptive ``lognormal`` one of the
    default) draw from NumPy's global random generator. The suggester runs the
    optimizer's asks and tells on a private generator seeded with ``seed``, so
    that a search is reproducible whatever the global NumPy state is.
    """

    optimizer: Any
    searched: tuple[str, ...]
    key: Callable[[Mapping[str, Any]], str] | None = None
    seed: int = 0
    retries: int = 8
    duplicates_avoided: int = 0
    _fitness: list[float] = field(default_factory=list)
    _rng_state: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import numpy as np

        self._rng_state = np.random.RandomState(self.seed % 2**32).get_state()

    @contextmanager
    def _private_rng(self) -> Iterator[None]:
        import numpy as np

        outer = np.random.get_state()
        np.random.set_state(self._rng_state)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            self._rng_state = np.random.get_state()
            np.random.set_state(outer)

    def ask(
        self, pending: list[Mapping[str, Any]], measured: Mapping[str, float] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """A (candidate, values) pair that is neither pending nor in ``measured``.

        ``measured`` maps the :attr:`key` of each finished trial's point to the
        fitness the optimizer was told for it.
        """
        measured = measured or {}
        taken = {self._key(p) for p in pending} | set(measured)
        with self._private_rng():
            for _ in range(self.retries + 1):
                candidate = self.optimizer.ask()
                values = _plain(candidate.value)
                key = self._key(values)
                if key not in taken:
                    return candidate, values
                self.duplicates_avoided += 1
                known = measured.get(key)
                self.optimizer.tell(candidate, -(self._lie() if known is None else known))
            for _ in range(100):
                candidate = self.optimizer.parametrization.sample()
                values = _plain(candidate.value)
                if self._key(values) not in taken:
                    break
            return candidate, values

    def tell(self, candidate: Any, fitness: float) -> None:
        """Tell the optimizer a finished candidate's fitness (it minimises the negative)."""
        self._fitness.append(fitness)
        with self._private_rng():
            self.optimizer.tell(candidate, -float(fitness))

    def tell_values(self, values: Mapping[str, Any], fitness: float) -> None:
        """Tell the fitness of a point the optimizer did not ask for (resume, freezing)."""
        param = self.optimizer.parametrization
        point = {k: values[k] for k in self.searched}
        with self._private_rng():
            candidate = param.spawn_child(new_value=point)
        self.tell(candidate, fitness)

    def _key(self, values: Mapping[str, Any]) -> str:
        if self.key is not None:
            return self.key(values)
        return point_key({name: values.get(name) for name in self.searched})

    def _lie(self) -> float:
        return sum(self._fitness) / len(self._fitness) if self._fitness else 0.0


def point_key(values: Mapping[str, Any]) -> str:
    """A canonical string for a point: equal points, equal keys (floats to 12 digits)."""
    canonical = {
        k: float(f"{v:.12g}") if isinstance(v, float) else v for k, v in sorted(values.items())
    }
    return json.dumps(canonical, sort_keys=True, default=str)


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in value.items():
        item = getattr(v, "item", None)
        out[k] = item() if callable(item) else v
    return out
