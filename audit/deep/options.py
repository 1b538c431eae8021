"""What :func:`audit.deep.model_audit.audit_model` accepts: its options, and matching data.

Everything here runs before any work (and before the CLI asks for a key), so a
bad option or data of another model fails in one line, early.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.deep.defend import Defence, parse_defences
from audit.errors import AuditOptionError, ShapeMismatchError

if TYPE_CHECKING:
    from audit.deep.recipe import Recipe
    from tuner.detectors import ModelSpec

__all__ = ["check_classes", "check_options", "training_data"]


def check_options(
    known_fraction: float = 1.0,
    defences: str | Sequence[str] | None = None,
    map_tolerance: float = 0.01,
    optimizer: str | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    *,
    vault: str | Path | None = None,
    truth: Mapping[str, Any] | Recipe | None = None,
) -> list[Defence]:
    """Check :func:`audit_model`'s options before any work; return the parsed defences.

    ``threads`` is the CLI's ``--threads`` (torch CPU threads; ``None``: torch's);
    ``device`` its ``--device`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``, which must exist);
    ``seed`` its ``--seed`` (``0`` to ``2**64 - 1``, what torch's and numpy's generators take).
    The truth comes through ``vault`` or ``truth``, not both.

    Raises:
        AuditOptionError: the first option out of range, in one line.
    """
    _check_types(
        known_fraction=(known_fraction, "a number"),
        map_tolerance=(map_tolerance, "a number"),
        batch_size=(batch_size, "an int"),
        threads=(threads, "an int"),
        seed=(seed, "an int"),
    )
    if not 0 < known_fraction <= 1:
        raise AuditOptionError(f"--known-fraction {known_fraction} must lie in (0, 1]")
    if not map_tolerance >= 0:
        raise AuditOptionError(f"--map-tolerance {map_tolerance} must be >= 0")
    if optimizer is not None and optimizer not in ("sgd", "adamw"):
        raise AuditOptionError(f"--optimizer {optimizer!r}: choose sgd or adamw")
    if batch_size is not None and batch_size < 1:
        raise AuditOptionError(f"--batch-size {batch_size} must be at least 1")
    if threads is not None and threads < 1:
        raise AuditOptionError(f"--threads {threads} must be at least 1 (torch CPU threads)")
    if seed is not None and not 0 <= seed <= 2**64 - 1:
        raise AuditOptionError(f"--seed {seed} must be a whole number from 0 to 2**64 - 1")
    if device is not None:
        _check_device(device)
    plan = parse_defences(defences)
    if truth is not None and vault is not None:
        raise AuditOptionError("give the truth either through a vault or directly, not both")
    return plan


def _check_types(**given: tuple[Any, str]) -> None:
    """Numbers where numbers are due (a notebook may pass "0.5"); None stands for a default."""
    for name, (value, kind) in given.items():
        if value is None and name not in ("known_fraction", "map_tolerance"):
            continue
        whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not (whole if kind == "an int" else real):
            raise AuditOptionError(f"{name} {value!r} must be {kind}, not {type(value).__name__}")


def _check_device(device: str) -> None:
    from tuner.errors import TrainingError
    from tuner.train.loop import resolve_device

    try:
        resolve_device(device)
    except TrainingError as exc:
        raise AuditOptionError(f"--device: {exc}") from None


def training_data(data: str | Path, spec: ModelSpec, *, images: int = 500, seed: int = 0) -> Any:
    """The train/val splits of ``data`` at the model's image size, checked against its classes.

    Raises:
        ShapeMismatchError: the data's classes are not the model's.
        DataError: the data cannot be loaded.
    """
    from tuner.data.resolve import resolve_data

    splits = resolve_data(str(data), images=images, size=spec.image_size, seed=seed)
    check_classes(splits, spec)
    return splits


def check_classes(splits: Any, spec: ModelSpec) -> None:
    """Refuse data whose classes (names, in label order) are not the model's."""
    classes = tuple(splits.train.class_names)
    if classes != tuple(spec.classes):
        raise ShapeMismatchError(
            f"the data's classes {list(classes)} differ from the model's {list(spec.classes)}: "
            "pass the data the model was trained on"
        )
