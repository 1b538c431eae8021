"""Nevergrad optimizers: by name, sized for small budgets, with de-duplicated asks.

Any name of ``nevergrad.optimizers.registry`` works. The configurable families
(``ParametrizedBO``, ``ParametrizedCMA``, ``DifferentialEvolution``,
``ConfPSO``, ``ParametrizedOnePlusOne``) take options. Tuning budgets are
small (20-50 trials), so by default the population-based optimizers DE,
TwoPointsDE, PSO and CMA get a population of about budget/5: with their
standard populations they would spend the whole budget on their random
initial population.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tuner.errors import ConfigError

#: The optimizers ``hyperseal tune --list-optimizers`` recommends, by family.
RECOMMENDED: dict[str, tuple[str, ...]] = {
    "evolutionary": ("OnePlusOne", "DE", "TwoPointsDE", "CMA", "PSO", "NGOpt"),
    "bayesian": ("BO", "ParametrizedBO"),
}
#: The default, chosen by ``benchmarks/search_efficiency.py`` (see docs/benchmarks.md): a (1+1)
#: evolution strategy with crossover whose mutation changes a random number of parameters.
DEFAULT_OPTIMIZER = "RecombiningPortfolioDiscreteOnePlusOne"
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
    if name in _FAMILIES:
        family = getattr(ng.families, name)
        try:
            configured = family(**options)
        except TypeError as exc:
            raise ConfigError(f"optimizer {name} does not take these options ({exc})") from None
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
    """Recommended optimizers by family, plus how many names the registry has."""
    import nevergrad as ng

    return {**RECOMMENDED, "registry": tuple(sorted(ng.optimizers.registry))}


@dataclass
class Suggester:
    """Asks an optimizer for new points, never handing out one that is already running.

    Some optimizers (BO in particular) return the same point to every pending
    ask. A point equal to a pending one is told a *constant lie* (the mean
    fitness so far) and the optimizer is asked again; after ``retries`` lies a
    random point of the space is used instead and told later as not-asked.
    """

    optimizer: Any
    searched: tuple[str, ...]
    retries: int = 4
    duplicates_avoided: int = 0
    _fitness: list[float] = field(default_factory=list)

    def ask(self, pending: list[Mapping[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """A (candidate, values) pair whose values differ from every pending point."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(self.retries + 1):
                candidate = self.optimizer.ask()
                values = _plain(candidate.value)
                if not any(_same(values, p, self.searched) for p in pending):
                    return candidate, values
                self.duplicates_avoided += 1
                self.optimizer.tell(candidate, -self._lie())
            for _ in range(100):
                candidate = self.optimizer.parametrization.sample()
                values = _plain(candidate.value)
                if not any(_same(values, p, self.searched) for p in pending):
                    break
            return candidate, values

    def tell(self, candidate: Any, fitness: float) -> None:
        """Tell the optimizer a finished candidate's fitness (it minimises the negative)."""
        self._fitness.append(fitness)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.optimizer.tell(candidate, -float(fitness))

    def tell_values(self, values: Mapping[str, Any], fitness: float) -> None:
        """Tell the fitness of a point the optimizer did not ask for (resume, freezing)."""
        param = self.optimizer.parametrization
        point = {k: values[k] for k in self.searched}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            candidate = param.spawn_child(new_value=point)
        self.tell(candidate, fitness)

    def _lie(self) -> float:
        return sum(self._fitness) / len(self._fitness) if self._fitness else 0.0


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in value.items():
        item = getattr(v, "item", None)
        out[k] = item() if callable(item) else v
    return out


def _same(a: Mapping[str, Any], b: Mapping[str, Any], names: tuple[str, ...]) -> bool:
    for name in names:
        x, y = a.get(name), b.get(name)
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True
