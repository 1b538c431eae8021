"""The truth an audit compares with: the training recipe, from the vault or given directly.

Without either, the attacker's own assumptions stand in for it (:func:`choose`
says where each setting came from), and the verdict is ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditOptionError

if TYPE_CHECKING:
    from tuner.data.resolve import DataSplits
    from tuner.detectors import ModelSpec
    from tuner.vault import KeySource

__all__ = ["Recipe", "choose", "entry_notes", "read_recipe", "recipe_from_entry"]


@dataclass(frozen=True)
class Recipe:
    """The parts of a training recipe the audit needs (the truth, when known).

    Attributes:
        optimizer: ``sgd`` or ``adamw``.
        weight_decay: The true weight decay.
        decay_norm_and_bias: Whether norm weights and biases were decayed.
        batch_size: Training's batch size.
        lr: Training's peak learning rate (for the second channel).
        momentum: Training's SGD momentum (for the second channel).
    """

    optimizer: str
    weight_decay: float
    decay_norm_and_bias: bool
    batch_size: int
    lr: float | None = None
    momentum: float | None = None


def recipe_from_entry(document: Mapping[str, Any], where: str = "vault entry") -> Recipe:
    """The recipe in a tuning vault entry (``{"config": {...}, ...}``) or a bare config.

    Fields missing from the config take :class:`~tuner.train.TrainConfig`'s
    defaults, as training did.

    Raises:
        AuditOptionError: no config in the entry, or one training would reject.
    """
    from tuner.errors import ConfigError
    from tuner.train.config import TrainConfig

    config = document.get("config", document) if isinstance(document, Mapping) else None
    known = (
        {k: v for k, v in config.items() if k in TrainConfig.__dataclass_fields__}
        if isinstance(config, Mapping)
        else {}
    )
    if not known:
        raise AuditOptionError(
            f"{where} holds no training config; pass the entry `hyperseal tune` wrote"
        )
    try:
        parsed = TrainConfig.from_dict(dict(known), where=where)
    except ConfigError as exc:
        raise AuditOptionError(str(exc)) from None
    return Recipe(
        optimizer=parsed.optimizer,
        weight_decay=parsed.weight_decay,
        decay_norm_and_bias=parsed.decay_norm_and_bias,
        batch_size=parsed.batch_size,
        lr=parsed.lr,
        momentum=parsed.momentum,
    )


def read_recipe(
    vault: str | Path | None,
    key: KeySource | None,
    entry: str | None,
    truth: Mapping[str, Any] | Recipe | None,
    folder: Path,
) -> tuple[Recipe | None, dict[str, Any] | None]:
    """The true recipe and the vault entry it came from (``None`` where not known).

    ``entry`` defaults to the vault's only entry, else to the run's name when
    ``folder`` is a run's ``best/`` folder.

    Raises:
        AuditOptionError: no key for the vault, or no such (or no single) entry.
    """
    if isinstance(truth, Recipe):
        return truth, None
    if truth is not None:
        return recipe_from_entry(truth, "the given truth"), None
    if vault is None:
        return None, None
    from tuner.vault import Vault

    if key is None:
        raise AuditOptionError("the vault needs its key to compare with the truth")
    opened = Vault.open(Path(vault), key)
    names = opened.names()
    entry = entry if entry is not None else _default_entry(vault, names, folder)
    if entry not in names:
        raise AuditOptionError(f"{vault} has no entry {entry!r}; its entries: {', '.join(names)}")
    document = opened.get(entry)
    return recipe_from_entry(document, f"vault entry {entry!r}"), document


def _default_entry(vault: str | Path, names: list[str], folder: Path) -> str:
    if len(names) == 1:
        return names[0]
    if folder.name == "best" and folder.parent.name in names:
        return folder.parent.name
    listed = ", ".join(names) if names else "none"
    raise AuditOptionError(
        f"{vault} holds several entries ({listed}); name the model's with --entry"
    )


def entry_notes(
    document: Mapping[str, Any] | None, sha: str, spec: ModelSpec, splits: DataSplits
) -> list[str]:
    """Caveats when the vault entry describes other weights, another model or other data."""
    if document is None:
        return []
    notes = []
    recorded = document.get("weights_sha256")
    if recorded and recorded != sha:
        notes.append(
            "the vault entry records other weights than these (SHA-256 differs): if this model "
            "was not trained with that recipe, the comparison means nothing"
        )
    model = document.get("model") or {}
    mine = {"arch": spec.arch, "backbone": spec.backbone, "image_size": spec.image_size}
    if model and any(model.get(k) != v for k, v in mine.items()):
        notes.append("the vault entry was tuned for another architecture or image size")
    fingerprint = document.get("dataset_fingerprint")
    if fingerprint and splits.fingerprint() != fingerprint:
        notes.append(
            "the data differs from the data the sealed recipe was tuned on (its fingerprint "
            "does not match): the comparison with the truth may not mean much"
        )
    return notes


def choose(recipe: Recipe | None, name: str, option: Any, default: Any) -> tuple[Any, str]:
    """A setting and where it came from: the recipe, the caller's option, or the default."""
    if recipe is not None:
        return getattr(recipe, name), "vault"
    if option is not None:
        return option, "option"
    return default, "default"
