"""Search spaces: which hyperparameters the tuner varies, and over what.

A space is a YAML mapping from a :class:`~tuner.train.TrainConfig` field to
its spec::

    lr:           {type: log,    low: 1.0e-3, high: 0.2, default: 0.02}
    momentum:     {type: float,  low: 0.8, high: 0.98, default: 0.9, when: {optimizer: sgd}}
    batch_size:   {type: choice, choices: [4, 8, 16], default: 8}
    optimizer:    {type: choice, choices: [sgd, adamw], default: sgd}
    epochs:       {type: fixed,  value: 6}

Types: ``log`` (log-uniform float), ``float``, ``int``, ``choice``, ``fixed``.
``when`` makes a parameter conditional: it is only used when every named
choice parameter has (one of) the given value(s); otherwise the field keeps its
default. A bad spec raises :class:`ConfigError` naming the parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tuner.errors import ConfigError
from tuner.train.config import TrainConfig

KINDS = ("log", "float", "int", "choice", "fixed")


@dataclass(frozen=True)
class Param:
    """One searched (or fixed) hyperparameter."""

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def searched(self) -> bool:
        """Whether the optimizer varies this parameter."""
        return self.kind != "fixed"

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the parameter applies, given the values of the others."""
        return all(values.get(name) in allowed for name, allowed in self.when)

    def to_spec(self) -> dict[str, Any]:
        """The YAML form of this parameter."""
        spec: dict[str, Any] = {"type": self.kind}
        if self.kind == "fixed":
            spec["value"] = self.default
            return spec
        if self.kind == "choice":
            spec["choices"] = list(self.choices)
        else:
            spec["low"], spec["high"] = self.low, self.high
        spec["default"] = self.default
        if self.when:
            spec["when"] = {k: list(v) if len(v) > 1 else v[0] for k, v in self.when}
        return spec


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of :class:`Param`, mapped to and from Nevergrad.

    ``where`` names the space in errors (``search space FILE`` for a file); copies keep it.
    """

    params: tuple[Param, ...] = field(default_factory=tuple)
    where: str = field(default="search space", compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        by_name = {p.name: p for p in self.params}
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ConfigError(f"{self.where} names the parameter {twice!r} twice; keep one")
        for p in self.params:
            for other, allowed in p.when:
                cond = by_name.get(other)
                head = f"{self.where}: parameter {p.name!r} has 'when: {{{other}: ...}}'"
                if cond is None:
                    raise ConfigError(
                        f"{head}, but the space has no parameter {other!r}; add {other!r} as a "
                        "choice (or fixed) parameter, or take it out of 'when'"
                    )
                if cond.kind not in ("choice", "fixed"):
                    raise ConfigError(
                        f"{head}, but {other!r} is a {cond.kind} parameter; 'when' can only "
                        "name a choice (or fixed) parameter"
                    )
                valid = cond.choices if cond.kind == "choice" else (cond.default,)
                bad = [v for v in allowed if v not in valid]
                if bad:
                    takes = (
                        f"its choices are {', '.join(map(repr, valid))}"
                        if cond.kind == "choice"
                        else f"it is fixed at {cond.default!r}"
                    )
                    raise ConfigError(
                        f"{head}, but {other!r} never takes {bad[0]!r} ({takes}); "
                        "use values it takes"
                    )

    @property
    def names(self) -> list[str]:
        """Names of all parameters, in order."""
        return [p.name for p in self.params]

    @property
    def searched(self) -> list[Param]:
        """The parameters the optimizer varies."""
        return [p for p in self.params if p.searched]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default."""
        return {p.name: p.default for p in self.params}

    def freeze(self, values: Mapping[str, Any]) -> SearchSpace:
        """A copy where each parameter in ``values`` is fixed at the given value."""
        params = tuple(
            Param(p.name, "fixed", _native(values[p.name]), when=p.when) if p.name in values else p
            for p in self.params
        )
        return SearchSpace(params, where=self.where)

    def parametrization(self, seed: int | None = None) -> Any:
        """A Nevergrad ``p.Dict`` over the searched parameters."""
        import nevergrad as ng

        items: dict[str, Any] = {}
        for p in self.searched:
            if p.kind == "log":
                items[p.name] = ng.p.Log(lower=p.low, upper=p.high, init=p.default)
            elif p.kind == "float":
                items[p.name] = ng.p.Scalar(lower=p.low, upper=p.high, init=p.default)
            elif p.kind == "int":
                items[p.name] = ng.p.Scalar(
                    lower=p.low, upper=p.high, init=p.default
                ).set_integer_casting()
            else:
                items[p.name] = ng.p.Choice(list(p.choices))
        param = ng.p.Dict(**items)
        if seed is not None:
            param.random_state.seed(seed)
        return param

    def complete(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """All parameters: searched values (inactive ones reset to default) plus fixed ones."""
        full = {p.name: _native(values.get(p.name, p.default)) for p in self.params}
        for p in self.params:
            if p.kind == "int":
                full[p.name] = int(round(full[p.name]))
            elif p.kind in ("log", "float"):
                full[p.name] = float(f"{float(full[p.name]):.6g}")
        for p in self.params:
            if not p.active(full):
                full[p.name] = p.default
        return full

    def project(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` (a config of another space, e.g. an earlier run's) as a point of this one.

        A parameter this space lacks is dropped, one it adds takes its default, a number
        outside the bounds is clipped to them, a choice this space does not offer (or any
        value of a fixed parameter) takes the default; conditional parameters and rounding
        are then as :meth:`complete` sets them.
        """
        point = {
            p.name: _projected(p, values[p.name]) if p.name in values else p.default
            for p in self.params
        }
        return self.complete(point)

    def to_config(self, values: Mapping[str, Any], base: TrainConfig | None = None) -> TrainConfig:
        """The :class:`TrainConfig` for a point of the space (other fields from ``base``)."""
        base = base or TrainConfig()
        return TrainConfig.from_dict({**base.to_dict(), **self.complete(values)}, where="trial")

    def to_yaml(self) -> str:
        """The YAML form of the space (the parameters, not any tuned value)."""
        import yaml

        return yaml.safe_dump({p.name: p.to_spec() for p in self.params}, sort_keys=False)


def default_space(epochs: int = 6) -> SearchSpace:
    """The built-in space for detectors: optimizer, lr, momentum, decay, batch, schedule, aug."""
    return parse_space(
        {
            "optimizer": {"type": "choice", "choices": ["sgd", "adamw"], "default": "sgd"},
            "lr": {"type": "log", "low": 1e-3, "high": 0.2, "default": 0.02},
            "momentum": {
                "type": "float",
                "low": 0.8,
                "high": 0.98,
                "default": 0.9,
                "when": {"optimizer": "sgd"},
            },
            "weight_decay": {"type": "log", "low": 1e-6, "high": 1e-2, "default": 1e-4},
            "batch_size": {"type": "choice", "choices": [4, 8, 16], "default": 8},
            "warmup_epochs": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "schedule": {
                "type": "choice",
                "choices": ["cosine", "step", "constant"],
                "default": "cosine",
            },
            "hflip": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "scale_jitter": {"type": "float", "low": 0.0, "high": 0.4, "default": 0.0},
            "color_jitter": {"type": "float", "low": 0.0, "high": 0.5, "default": 0.0},
            "epochs": {"type": "fixed", "value": epochs},
        }
    )


def load_space(path: Path, *, detector: bool = True) -> SearchSpace:
    """Read a search space from a YAML (or JSON) file (``detector``: see :func:`parse_space`)."""
    from tuner.yamlfile import read_yaml_file

    what = "search space file"
    data = read_yaml_file(path, what=what, expect="a YAML file", error=ConfigError)
    return parse_space(data, where=f"search space {path}", detector=detector)


def parse_space(data: Any, *, where: str = "search space", detector: bool = True) -> SearchSpace:
    """Validate a mapping of parameter specs and build a :class:`SearchSpace`.

    With ``detector`` (the built-in trainer) every name must be a
    :class:`~tuner.train.TrainConfig` field and every reachable point a valid
    config; otherwise (a Python objective or a command) any name of letters,
    digits, ``_``, ``.`` and ``-`` is taken as it is.
    """
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where} must be a non-empty mapping of parameter: spec")
    if not detector:
        return _free_space(data, where)
    known = {f.name for f in fields(TrainConfig)}
    params = []
    for name, spec in data.items():
        if name not in known:
            raise ConfigError(
                f"{where}: {name!r} is not a training hyperparameter; "
                f"known: {', '.join(sorted(known))}"
            )
        params.append(_parse_param(str(name), spec, where))
    epochs = next((p for p in params if p.name == "epochs"), None)
    if epochs is not None and epochs.searched:
        raise ConfigError(
            f"{where}: parameter 'epochs' has type {epochs.kind}, but the trial length is not "
            "searched (pruning compares trials epoch by epoch); drop it and set it with --epochs"
        )
    space = SearchSpace(tuple(params), where=where)
    if not space.searched:
        raise ConfigError(f"{where}: every parameter is fixed; leave at least one to search")
    try:
        space.to_config(space.defaults())
    except ConfigError as exc:
        raise ConfigError(f"{where}: the defaults do not make a valid config ({exc})") from None
    for p in space.searched:
        ends = p.choices if p.kind == "choice" else (p.low, p.high)
        for value in ends:
            try:
                space.to_config({**space.defaults(), p.name: value})
            except ConfigError:
                raise ConfigError(
                    f"{where}: parameter {p.name!r} reaches {value!r}, which training does not "
                    "accept; narrow its range"
                ) from None
    return space


_FREE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,99}")


def _free_space(data: dict[Any, Any], where: str) -> SearchSpace:
    """A space of any parameter names (objectives other than the built-in trainer)."""
    params = []
    for name, spec in data.items():
        if not isinstance(name, str) or _FREE_NAME.fullmatch(name) is None:
            raise ConfigError(
                f"{where}: parameter name {str(name)[:40]!r} is not valid; use letters, digits,"
                " '_', '.' and '-' (starting with a letter or '_')"
            )
        params.append(_parse_param(name, spec, where))
    space = SearchSpace(tuple(params), where=where)
    if not space.searched:
        raise ConfigError(f"{where}: every parameter is fixed; leave at least one to search")
    return space


def _parse_param(name: str, spec: Any, where: str) -> Param:
    def fail(msg: str) -> ConfigError:
        return ConfigError(f"{where}: parameter {name!r} {msg}")

    if not isinstance(spec, dict):
        raise fail("must be a mapping with a 'type'")
    kind = spec.get("type")
    if kind not in KINDS:
        raise fail(f"has type {kind!r}; use one of {', '.join(KINDS)}")
    allowed = {"type", "default", "when"} | {
        "log": {"low", "high"},
        "float": {"low", "high"},
        "int": {"low", "high"},
        "choice": {"choices"},
        "fixed": {"value"},
    }[kind]
    extra = sorted(set(spec) - allowed)
    if extra:
        raise fail(f"has unknown key {extra[0]!r} for type {kind}")
    when = _parse_when(spec.get("when"), fail)
    if kind == "fixed":
        if "value" not in spec:
            raise fail("is fixed but has no 'value'")
        return Param(name, kind, spec["value"], when=when)
    if kind == "choice":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail("needs a non-empty list 'choices'")
        if len(set(map(repr, choices))) != len(choices):
            raise fail("lists a choice twice")
        default = spec.get("default", choices[0])
        if default not in choices:
            raise fail("has a default that is not among its choices")
        return Param(name, kind, default, choices=tuple(choices), when=when)
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise fail("needs numeric 'low' and 'high'")
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise fail("needs finite bounds with low < high")
    if kind == "log" and low <= 0:
        raise fail("is log-scaled, so 'low' must be above 0")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise fail("is an int, so its bounds must be whole numbers")
    default = spec.get("default", math.sqrt(low * high) if kind == "log" else (low + high) / 2)
    if not isinstance(default, (int, float)) or isinstance(default, bool):
        raise fail("needs a numeric default")
    if not low <= float(default) <= high:
        raise fail("has a default outside [low, high]")
    if kind == "int":
        return Param(name, kind, int(round(default)), low, high, when=when)
    return Param(name, kind, float(default), low, high, when=when)


def _parse_when(raw: Any, fail: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise fail("has a 'when' that is not a mapping of parameter: value(s)")
    return tuple(
        (str(k), tuple(v) if isinstance(v, list) else (v,)) for k, v in sorted(raw.items())
    )


def _projected(p: Param, value: Any) -> Any:
    """``value`` of an earlier space as ``p`` can take it (see :meth:`SearchSpace.project`)."""
    value = _native(value)
    if p.kind == "fixed":
        return p.default
    if p.kind == "choice":
        same = (
            c for c in p.choices if c == value and isinstance(c, bool) == isinstance(value, bool)
        )
        return next(same, p.default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return p.default
    assert p.low is not None and p.high is not None
    return min(max(float(value), p.low), p.high)


def _native(value: Any) -> Any:
    """Plain Python scalars (numpy scalars leak out of Nevergrad)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value
