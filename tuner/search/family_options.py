"""What the options of Nevergrad's configurable families accept, checked before one is built.

Nevergrad checks some option values only when the optimizer first asks, in messages about
its own state (``popsize=0``: "Both asked and told queues are empty"), and some not at all.
:func:`checked_options` refuses a bad value in one line that says what the value must be;
:func:`bad_options` words what Nevergrad itself refused. The accepted values are written
out here because Nevergrad's signatures give only the types, not the values nor the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from tuner.errors import ConfigError

#: What Nevergrad raises for an option value it cannot use (it checks some with ``assert``).
REFUSALS = (
    ValueError,
    AssertionError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RuntimeError,
    NotImplementedError,
    ArithmeticError,
    ImportError,
)


def bad_options(name: str, options: Mapping[str, Any], exc: BaseException) -> ConfigError:
    """One line: which optimizer refused which options, and why when Nevergrad says."""
    given = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "no options"
    reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    if isinstance(exc, KeyError):
        reason = f"unknown value {reason}"
    if any(inner in reason for inner in _INTERNAL):
        reason = ""  # Nevergrad's own state, which says nothing about the option
    why = f": {reason}" if reason else ""
    return ConfigError(
        f"bad --optimizer-option for {name}: {given} refused{why}; change the value or drop the"
        f" option (Nevergrad's documentation of {name} lists its values)"
    )


#: Nevergrad messages about its own state, not about the option that caused it.
_INTERNAL = ("queues are empty", "number of weights")


def checked_options(
    name: str,
    family: Any,
    options: Mapping[str, Any],
    *,
    rules: Mapping[str, _Rule] | None = None,
) -> dict[str, Any]:
    """The options of the family ``name``, checked against what it accepts before it is built.

    Nevergrad checks some values only when the optimizer first asks, in messages about its
    own state (``popsize=0``: "Both asked and told queues are empty"), and some not at all.
    A whole number where a float is wanted is passed as a float (``scale=2``). ``rules``,
    when given, are the family's options and their rules, in place of its signature and
    :data:`_OPTION_RULES` (hyperseal's own compositions, whose every option has a rule).

    Raises:
        ConfigError: An option the family does not have, or a value it cannot use, in one
            line that says what the value must be.
    """
    import inspect

    if rules is None:
        known = [k for k in inspect.signature(family.__init__).parameters if k != "self"]
        rules = _OPTION_RULES.get(name, {})
    else:
        known = list(rules)
    checked = {}
    for key, value in options.items():
        prefix = f"bad --optimizer-option for {name}: {key}={value!r} refused"
        if key not in known:
            raise ConfigError(
                f"{prefix}: {name} has no option {key!r}; its options: {', '.join(known)}"
            )
        rule = rules.get(key)
        if rule is not None:
            if not rule.ok(value):
                raise ConfigError(f"{prefix}: {key} must be {rule.must}")
            if rule.convert is not None:
                value = rule.convert(value)
        checked[key] = value
    return checked


def refused(rules: Mapping[str, _Rule], options: Mapping[str, Any]) -> str:
    """What is wrong with the first of ``options`` its rule refuses ("" when none is):
    for a class that checks its own arguments with the same rules."""
    for key, value in options.items():
        rule = rules.get(key)
        if rule is not None and not rule.ok(value):
            return f"{key} must be {rule.must}, not {value!r}"
    return ""


class _Rule(NamedTuple):
    ok: Callable[[Any], bool]
    must: str
    convert: Callable[[Any], Any] | None = None  # to what Nevergrad wants, once ok


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(least: int, *names: str, none: bool = False) -> _Rule:
    """A whole number of ``least`` or more, or one of ``names``, or null when ``none``."""
    words = [f"a whole number of {least} or more", *names]
    if none:
        words.append("null (the default)")
    return _Rule(
        lambda v: (
            (_is_number(v) and isinstance(v, int) and v >= least)
            or (isinstance(v, str) and v in names)
            or (none and v is None)
        ),
        ", ".join(words[:-1]) + f", or {words[-1]}" if len(words) > 1 else words[0],
    )


def _number(*names: str, above: float | None = None) -> _Rule:
    """A finite number (above ``above``), or one of ``names``."""
    must = "a number" + (f" above {above:g}" if above is not None else "")
    if names:
        must += f" or {names[0]}" if len(names) == 1 else f" or one of {', '.join(names)}"
    return _Rule(
        lambda v: (
            (_is_number(v) and (above is None or v > above)) or (isinstance(v, str) and v in names)
        ),
        must,
        convert=lambda v: float(v) if _is_number(v) else v,
    )


def _one_of(names: tuple[str, ...], *, none: bool = False) -> _Rule:
    return _Rule(
        lambda v: (isinstance(v, str) and v in names) or (none and v is None),
        "one of " + ", ".join(names) + (" or null (the default)" if none else ""),
    )


_FLAG = _Rule(lambda v: isinstance(v, bool), "true or false")
_MAPPING = _Rule(lambda v: v is None or isinstance(v, dict), "a mapping such as {key: value}")
_NOISE_HANDLINGS = ("random", "optimistic")


def _noise_handling(value: Any) -> bool:
    """None, a method, or ``[method, factor]`` with a factor above 0."""
    if value is None or value in _NOISE_HANDLINGS:
        return True
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return False
    method, factor = value
    return method in _NOISE_HANDLINGS and _is_number(factor) and factor > 0


_NOISE_HANDLING = _Rule(
    _noise_handling,
    "random, optimistic, a pair such as [random, 0.05] (the factor above 0) or null",
    convert=lambda v: tuple(v) if isinstance(v, list) else v,
)
_DE_CROSSOVERS = (
    "dimension",
    "random",
    "onepoint",
    "twopoints",
    "rotated_twopoints",
    "parametrization",
)
_MUTATIONS = (
    "gaussian",
    "cauchy",
    "discrete",
    "fastga",
    "rls",
    "doublefastga",
    "adaptive",
    "coordinatewise_adaptive",
    "portfolio",
    "discreteBSO",
    "lengler",
    "lengler2",
    "lengler3",
    "lenglerhalf",
    "lenglerfourth",
    "doerr",
    "lognormal",
    "xlognormal",
    "xsmalllognormal",
    "tinylognormal",
    "smalllognormal",
    "biglognormal",
    "hugelognormal",
)
_ANNEALINGS = ("none", "Exp0.9", "Exp0.99", "Exp0.9Auto", "Lin100.0", "Lin1.0", "LinAuto")

#: What the options of hyperseal's exploring composition accept
#: (:class:`tuner.search.stall.ExploreOnStall`; ``inner`` is not a user's option).
EXPLORING_RULES: Mapping[str, _Rule] = {
    "patience": _whole(1),
    "every": _whole(0),
    "recentre": _FLAG,
    "wait": _whole(0),
}

#: What the options of each family accept (Nevergrad 1.0), checked before it is built; an
#: option without a rule is left to Nevergrad (and to :func:`check_optimizer`'s first ask).
_OPTION_RULES: dict[str, dict[str, _Rule]] = {
    "DifferentialEvolution": {
        "popsize": _whole(1, "standard", "dimension", "large", "small"),
        "initialization": _one_of(("parametrization", "LHS", "QR", "QO", "SO", "gaussian")),
        "recommendation": _one_of(("optimistic", "pessimistic", "noisy", "mean")),
        "crossover": _number(*_DE_CROSSOVERS),
        "scale": _number("mini"),
        "F1": _number(),
        "F2": _number(),
        "propagate_heritage": _FLAG,
        "multiobjective_adaptation": _FLAG,
        "high_speed": _FLAG,
    },
    "ParametrizedCMA": {
        "popsize": _whole(2, none=True),
        "scale": _number(above=0),
        "popsize_factor": _number(above=0),
        "elitist": _FLAG,
        "diagonal": _FLAG,
        "zero": _FLAG,
        "high_speed": _FLAG,
        "random_init": _FLAG,
        "inopts": _MAPPING,
    },
    "ConfPSO": {
        "popsize": _whole(1, none=True),
        "transform": _one_of(("identity", "arctan", "gaussian")),
        "omega": _number(),
        "phip": _number(),
        "phig": _number(),
        "qo": _FLAG,
        "sqo": _FLAG,
        "so": _FLAG,
    },
    "ParametrizedOnePlusOne": {
        "noise_handling": _NOISE_HANDLING,
        "mutation": _one_of(_MUTATIONS),
        "annealing": _one_of(_ANNEALINGS),
        "tabu_length": _whole(0),
        "crossover": _FLAG,
        "rotation": _FLAG,
        "use_pareto": _FLAG,
        "sparse": _FLAG,
        "smoother": _FLAG,
        "super_radii": _FLAG,
    },
    "ParametrizedBO": {
        "initialization": _one_of(("random", "Hammersley", "LHS"), none=True),
        "init_budget": _whole(1, none=True),
        "middle_point": _FLAG,
        "utility_kind": _one_of(("ucb", "ei", "poi")),
        "utility_kappa": _number(),
        "utility_xi": _number(),
        "gp_parameters": _MAPPING,
    },
}
