"""``TrainConfig``: every training hyperparameter the tuner searches, in one dataclass.

This is the secret recipe: it lives in memory, in the user's own config file,
and sealed in the vault; hyperseal never writes it to disk in plaintext unless
the user exports it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tuner.errors import ConfigError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "constant")
#: The seeds torch's generators accept.
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1


def _one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A field whose value must be one of ``choices``."""
    return field(default=default, metadata={"choices": choices})


def _within(default: float, low: float, high: float | str, *, low_open: bool = False) -> Any:
    """A field whose value must lie in ``[low, high]`` (``(low, high]`` with ``low_open``).

    A ``high`` given as text names another field whose value is the bound; a message
    names that field, never its value (a sealed recipe's values must not reach one).
    """
    return field(default=default, metadata={"within": (low, high, low_open)})


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters of a detector.

    Args:
        optimizer: ``sgd`` (with momentum, optionally Nesterov) or ``adamw``.
        lr: Peak learning rate, reached at the end of the warm-up.
        momentum: SGD momentum; for AdamW, beta1.
        nesterov: Nesterov momentum (SGD only).
        weight_decay: L2 penalty (SGD, coupled) or decoupled decay (AdamW).
        decay_norm_and_bias: Whether normalisation weights and all biases are decayed too.
        batch_size: Images per step.
        epochs: Passes over the training split.
        warmup_epochs: Linear warm-up length, in epochs (may be fractional).
        schedule: ``cosine`` (to zero), ``step`` (×0.1 at 2/3 and 8/9 of training) or ``constant``.
        grad_clip: Maximum gradient norm; 0 disables clipping.
        hflip: Probability of a horizontal flip.
        scale_jitter: Relative zoom range: each image is scaled by a factor in [1-s, 1+s].
        color_jitter: Relative brightness, contrast and saturation jitter.
        seed: Seed of initialisation, shuffling and augmentation.
    """

    optimizer: str = _one_of("sgd", OPTIMIZERS)
    lr: float = _within(0.02, 0.0, 10.0, low_open=True)
    momentum: float = _within(0.9, 0.0, 0.999)
    nesterov: bool = False
    weight_decay: float = _within(1e-4, 0.0, 1.0)
    decay_norm_and_bias: bool = False
    batch_size: int = _within(8, 1, 4096)
    epochs: int = _within(30, 1, 100_000)
    warmup_epochs: float = _within(0.5, 0.0, "epochs")
    schedule: str = _one_of("cosine", SCHEDULES)
    grad_clip: float = _within(10.0, 0.0, 1e6)
    hflip: float = _within(0.5, 0.0, 1.0)
    scale_jitter: float = _within(0.0, 0.0, 0.9)
    color_jitter: float = _within(0.0, 0.0, 1.0)
    seed: int = _within(0, SEED_MIN, SEED_MAX)

    def __post_init__(self) -> None:
        _check_types(self)
        _check_values(self)
        if self.nesterov and self.optimizer == "sgd" and self.momentum == 0:
            raise ConfigError(
                "config field 'nesterov' needs a momentum above 0; set one or drop it"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for the vault; never write it to disk in plaintext)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "config") -> TrainConfig:
        """Build from a mapping, converting types and naming the first bad field.

        Raises:
            ConfigError: Unknown field, wrong type or value out of range.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a mapping of field: value")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known), key=str)
        if unknown:
            raise ConfigError(
                f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(known)}"
            )
        defaults = cls()
        values: dict[str, Any] = {}
        for name, raw in data.items():
            values[name] = _coerce(name, raw, type(getattr(defaults, name)), where)
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def load_config(path: Path) -> TrainConfig:
    """Read a :class:`TrainConfig` from a YAML or JSON file.

    Raises:
        ConfigError: The file is missing, unparsable or holds a bad field.
    """
    from tuner.yamlfile import read_yaml_file

    what = "config file"
    data = read_yaml_file(path, what=what, expect="a YAML or JSON file", error=ConfigError)
    return TrainConfig.from_dict(data or {}, where=f"{what} {path}")


_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _coerce(name: str, raw: Any, kind: type, where: str) -> Any:
    bad = ConfigError(f"{where}: field {name!r} must be {_KINDS.get(kind, kind.__name__)}")
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        raise bad
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise bad
        if not math.isfinite(raw) or raw != int(raw):
            raise bad
        return int(raw)
    if kind is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise bad
        try:
            value = float(raw)
        except ValueError:
            raise bad from None
        if not math.isfinite(value):
            raise ConfigError(f"{where}: field {name!r} must be a finite number")
        return value
    if not isinstance(raw, str):
        raise bad
    return raw


def _check_types(config: TrainConfig) -> None:
    """Each field of the kind its default is (a notebook may pass lr="0.1" or batch_size=2.5;
    :meth:`TrainConfig.from_dict` converts what a file holds before it gets here)."""
    import numbers

    for f in fields(config):
        value = getattr(config, f.name)
        kind = type(f.default)
        if kind is bool:
            numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in (
                "bool",
                "bool_",
            )
            ok = isinstance(value, bool) or numpy_bool
        elif kind is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise ConfigError(
                f"config field {f.name!r} must be {_KINDS.get(kind, kind.__name__)},"
                f" not {type(value).__name__}"
            )


def _check_values(config: TrainConfig) -> None:
    """Every field against its declared choices, then against its declared range (the
    first fault found, in field order, is the one reported)."""
    for f in fields(config):
        if "choices" in f.metadata:
            _check_choice(f.name, getattr(config, f.name), f.metadata["choices"])
    for f in fields(config):
        if "within" in f.metadata:
            low, high, low_open = f.metadata["within"]
            value = getattr(config, f.name)
            if isinstance(high, str):
                bound = float(getattr(config, high))
                _check_range(f.name, value, low, bound, high, low_open=low_open)
            else:
                _check_range(f.name, value, low, high, low_open=low_open)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"config field {name!r} must be one of {', '.join(choices)}")


def _check_range(
    name: str,
    value: float,
    low: float,
    high: float,
    high_name: str | None = None,
    *,
    low_open: bool = False,
) -> None:
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok or value != value:
        bracket = "(" if low_open else "["
        raise ConfigError(
            f"config field {name!r} is out of range; allowed: {bracket}{low}, {high_name or high}]"
        )
