"""``audit_model``: a released detector and its training data → how much of the recipe leaks.

Steps, each in its own module:

1. check the options (:mod:`audit.deep.options`) and load the release,
   refusing anything that is not plain weights (:mod:`audit.deep.release`);
2. when the owner unlocks the vault, read the true recipe (weight decay,
   optimizer, which parameters were decayed, batch size) (:mod:`audit.deep.recipe`);
3. load the training data the attacker knows (all, or a random fraction) and
   check its classes are the model's (:mod:`audit.deep.options`);
4. steal the weight decay (:func:`audit.deep.steal.steal_weight_decay`) with
   the detector's training loss, in train mode, without augmentation
   (:mod:`audit.deep.detector`);
5. compare with the truth and give a verdict (:mod:`audit.deep.verdict`);
6. for each defence, perturb the weights, attack again and re-evaluate
   validation mAP; recommend the cheapest defence that pushes the estimate
   beyond 10x of the truth within the mAP tolerance (:mod:`audit.deep.pricing`).

The outcome is a :class:`~audit.deep.results.DetectorAudit`, which
:mod:`audit.deep.results` writes to the results folder.

Without the vault the attacker's own assumptions are used (SGD, training's
default batch size and decay rule unless given) and the verdict is ``unknown``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.deep.options import check_classes, check_options, training_data
from audit.deep.pricing import DEFENCE_COLUMNS, price_defences, recommend
from audit.deep.recipe import Recipe, choose, entry_notes, read_recipe
from audit.deep.release import ReleasedDetector, load_released_detector
from audit.deep.results import DetectorAudit
from audit.deep.verdict import PARTIAL_WITHIN, errors_against, verdict_for
from tuner.progress import Progress

if TYPE_CHECKING:
    import pandas as pd

    from audit.deep.defend import Defence
    from audit.deep.pricing import Attack
    from audit.deep.steal import WeightDecayEstimate
    from tuner.data.resolve import DataSplits
    from tuner.detectors import ModelSpec
    from tuner.vault import KeySource

__all__ = ["DETECTOR_INTERVAL", "audit_model"]

#: Why a detector's audit prints no interval (measured, docs/audit.md).
DETECTOR_INTERVAL = (
    "no interval for a detector: the calibration was measured on small classifiers, and on "
    "tiny FCOS runs trained to near-stationarity one calibrated interval missed the truth "
    "(10x high); the verdict still judges the owner's worst case"
)

_UNKNOWN_OPTIMIZER = (
    "optimizer unknown (no vault, no --optimizer): the attack assumes SGD with coupled "
    "weight decay; for AdamW its number would mean nothing"
)


def audit_model(
    model: str | Path | ReleasedDetector,
    data: str | Path | DataSplits = "synthetic",
    *,
    vault: str | Path | None = None,
    key: KeySource | None = None,
    entry: str | None = None,
    truth: Mapping[str, Any] | Recipe | None = None,
    known_fraction: float = 1.0,
    defences: str | Sequence[str] | None = None,
    map_tolerance: float = 0.01,
    batch_size: int | None = None,
    optimizer: str | None = None,
    decay_norm_and_bias: bool | None = None,
    synthetic_images: int = 500,
    synthetic_seed: int = 0,
    device: str | None = "auto",
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> DetectorAudit:
    """Audit a released detector: steal its weight decay, judge the leak, price defences.

    Args:
        model: Release folder (``manifest.json`` + ``weights.safetensors``), a
            weights file next to a manifest (``.pt`` read weights-only), or a
            release already loaded with :func:`~audit.deep.release.load_released_detector`.
        data: ``synthetic`` or a COCO folder: the training data the attacker
            knows (or splits already loaded with
            :func:`~audit.deep.options.training_data`).
        vault: A vault holding the true recipe (``hyperseal tune``'s entry).
        key: The vault's key.
        entry: The vault entry; default: the only entry, else the run's name
            when ``model`` is a run's ``best/`` folder.
        truth: The true recipe given directly (a config mapping or a
            :class:`Recipe`), instead of ``vault``.
        known_fraction: Share of the training images the attacker knows.
        defences: ``round:K`` / ``noise:SIGMA`` specs (comma-separated or a list).
        map_tolerance: The mAP a recommended defence may cost at most.
        batch_size: Batch size to assume (default: the recipe's, else 8).
        optimizer: ``sgd`` or ``adamw`` to assume without the vault.
        decay_norm_and_bias: Decay rule to assume (default: the recipe's, else False).
        synthetic_images: Images of the synthetic scenes (``data="synthetic"``).
        synthetic_seed: Seed of the synthetic scenes.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        n_bootstrap: Bootstrap replicates of the interval.
        seed: Seed of the known subset, batch composition, bootstrap and noise.
        progress: Progress sink.

    Returns:
        The :class:`~audit.deep.results.DetectorAudit`.

    Raises:
        UnsafeModelError, ModelFileError, ShapeMismatchError, NonFiniteError: bad model
            files or data whose classes differ from the model's.
        AuditOptionError: an option out of range, or an unusable vault entry.
        DataError: from loading the data. WrongKeyError etc.: from the vault.

    Long because of its signature and this docstring, one entry per option; the
    body reads as the steps the module's docstring lists.
    """
    started = time.perf_counter()
    plan = check_options(
        known_fraction,
        defences,
        map_tolerance,
        optimizer,
        batch_size,
        device=device if isinstance(device, str) else None,
        seed=seed,
        vault=vault,
        truth=truth,
    )
    released = model if isinstance(model, ReleasedDetector) else load_released_detector(model)
    recipe, entry_doc = read_recipe(vault, key, entry, truth, released.folder)
    splits = _splits(data, released, synthetic_images, synthetic_seed)
    notes = entry_notes(entry_doc, released.weights_sha256, released.spec, splits)
    times = {"load": time.perf_counter() - started}

    setting = _setting(
        released,
        splits,
        recipe,
        known_fraction,
        device,
        seed,
        optimizer=optimizer,
        batch_size=batch_size,
        decay_norm_and_bias=decay_norm_and_bias,
    )
    if setting.family == "adamw" or setting.truth == 0:
        return _not_applicable(setting, plan, notes, times, started)
    if setting.family == "unknown":
        notes.append(_UNKNOWN_OPTIMIZER)

    attack = _attacker(setting, n_bootstrap, seed, progress)
    t0 = time.perf_counter()
    result = _uncalibrated_for_detectors(attack(released.model))
    times["attack"] = time.perf_counter() - t0
    notes += list(result.notes)
    judged = _judge(result, setting, notes)

    t0 = time.perf_counter()
    table, recommended = _defend(setting, plan, attack, result, judged, map_tolerance, seed, notes)
    if plan:
        times["defences"] = time.perf_counter() - t0
    times["total"] = time.perf_counter() - started
    rel, log = errors_against(judged.estimate, setting.truth)
    return DetectorAudit(
        **setting.described(),
        verdict=judged.verdict,
        recommended_defence=recommended,
        estimate=result,
        relative_error=rel,
        log10_error=log,
        defences=table,
        notes=notes,
        seconds=times,
        worst_case=judged.worst,
        pick_verdict=judged.pick_verdict if setting.truth is not None else None,
        second_channel=_second_channel(result, recipe),
    )


# -- the steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """What the attack runs on and assumes, and where each assumption came from."""

    released: ReleasedDetector
    splits: Any
    recipe: Recipe | None
    known_fraction: float
    family: str
    rule: bool
    device: Any
    batches: Any
    assumptions: dict[str, Any]

    @property
    def truth(self) -> float | None:
        """The true weight decay (``None`` without the recipe)."""
        return self.recipe.weight_decay if self.recipe is not None else None

    def described(self) -> dict[str, Any]:
        """The :class:`DetectorAudit` fields that say what was audited, under which assumptions."""
        spec = self.released.spec
        return {
            "model": {"arch": spec.arch, "backbone": spec.backbone, "image_size": spec.image_size},
            "data": str(self.splits.source),
            "known_fraction": self.known_fraction,
            "optimizer_family": self.family,
            "truth": self.truth,
            "threat_model": _threat_model(
                spec, str(self.splits.source), self.known_fraction, self.assumptions
            ),
            "assumptions": self.assumptions,
            "weights_sha256": self.released.weights_sha256,
        }


def _splits(data: Any, released: ReleasedDetector, images: int, seed: int) -> Any:
    """The training data: splits given by the caller (checked), else loaded."""
    from tuner.data.resolve import DataSplits

    if isinstance(data, DataSplits):
        check_classes(data, released.spec)
        return data
    return training_data(data, released.spec, images=images, seed=seed)


def _setting(
    released: ReleasedDetector,
    splits: Any,
    recipe: Recipe | None,
    known_fraction: float,
    device: str | None,
    seed: int,
    *,
    optimizer: str | None,
    batch_size: int | None,
    decay_norm_and_bias: bool | None,
) -> _Setting:
    """The recipe's settings where known, else the caller's, else the attacker's defaults."""
    from audit.deep.detector import DetectorBatches
    from tuner.data.dataset import DetectionDataset
    from tuner.train.loop import resolve_device

    family, family_source = choose(recipe, "optimizer", optimizer, "unknown")
    bs, bs_source = choose(recipe, "batch_size", batch_size, 8)
    rule, rule_source = choose(recipe, "decay_norm_and_bias", decay_norm_and_bias, False)
    dev = resolve_device(device)
    train_set = DetectionDataset(splits.train)
    batches = DetectorBatches(train_set, int(bs), fraction=known_fraction, seed=seed)
    assumptions = {
        "optimizer": family,
        "optimizer_source": family_source,
        "batch_size": int(bs),
        "batch_size_source": bs_source,
        "decay_norm_and_bias": bool(rule),
        "decay_rule_source": rule_source,
        "training_images": len(train_set),
        "known_images": len(batches.known),
        "images_used": batches.images,
        "batches": len(batches),
        "device": str(dev),
        "augmentation": "none",
        "mode": "train (batch statistics)",
    }
    return _Setting(
        released, splits, recipe, known_fraction, family, bool(rule), dev, batches, assumptions
    )


def _not_applicable(
    setting: _Setting,
    plan: list[Defence],
    notes: list[str],
    times: dict[str, float],
    started: float,
) -> DetectorAudit:
    """The audit when the attack does not apply: AdamW (decoupled decay), or no decay at all."""
    import pandas as pd

    from audit.deep.steal import ADAMW_EXPLANATION

    if setting.family == "adamw":
        reason = ADAMW_EXPLANATION
    else:
        reason = "the recipe used no weight decay (0): there is nothing for this attack to steal"
    notes.append(reason)
    if plan:
        notes.append("defences were not tried: the attack they defend against does not apply")
    times["total"] = time.perf_counter() - started
    described = setting.described()
    if setting.assumptions["optimizer_source"] != "vault":
        described["threat_model"] = f"{described['threat_model']} {reason}"
    return DetectorAudit(
        **described,
        verdict="not-applicable",
        recommended_defence=None,
        estimate=None,
        relative_error=None,
        log10_error=None,
        defences=pd.DataFrame(columns=list(DEFENCE_COLUMNS)),
        notes=notes,
        seconds=times,
    )


def _attacker(setting: _Setting, n_bootstrap: int, seed: int, progress: Progress | None) -> Attack:
    """The attack on one model, with the detector's loss, batches and settings bound."""
    from audit.deep.detector import detector_loss
    from audit.deep.steal import steal_weight_decay

    def attack(model: Any) -> WeightDecayEstimate:
        return steal_weight_decay(
            model,
            detector_loss,
            setting.batches,
            decay_norm_and_bias=setting.rule,
            device=setting.device,
            n_bootstrap=n_bootstrap,
            seed=seed,
            progress=progress,
        )

    return attack


def _uncalibrated_for_detectors(result: WeightDecayEstimate) -> WeightDecayEstimate:
    """The attack's result with its calibrated interval withdrawn (detectors are not calibrated)."""
    if result.ci is None or not result.reliable:
        return result
    return replace(
        result, ci=None, ci_method=DETECTOR_INTERVAL, notes=(*result.notes, DETECTOR_INTERVAL)
    )


@dataclass(frozen=True)
class _Judged:
    """The attack's result against the truth."""

    estimate: float | None
    verdict: str
    pick_verdict: str
    worst: dict[str, Any] | None


def _judge(result: WeightDecayEstimate, setting: _Setting, notes: list[str]) -> _Judged:
    """The verdict: the owner's worst case (the usable variant closest to the truth) decides."""
    true_wd = setting.truth
    judged_as = setting.family if setting.family != "unknown" else "sgd"
    estimate = result.estimate if math.isfinite(result.estimate) else None
    pick_verdict = verdict_for(estimate, true_wd, optimizer=judged_as)
    worst = result.worst_case(true_wd) if true_wd is not None and true_wd > 0 else None
    verdict = verdict_for(worst["estimate"] if worst else None, true_wd, optimizer=judged_as)
    if true_wd is not None and true_wd > 0 and worst is None:
        chance = result.worst_case(true_wd, usable_only=False)
        notes.append(
            "no attack variant is usable without the truth, so the verdict judges none"
            + (
                f"; the closest of them landed {chance['ratio']:.2g}x from the truth, by "
                "chance: an attacker cannot tell it from the others"
                if chance is not None
                else ""
            )
        )
    return _Judged(estimate, verdict, pick_verdict, worst)


def _defend(
    setting: _Setting,
    plan: list[Defence],
    attack: Attack,
    result: WeightDecayEstimate,
    judged: _Judged,
    map_tolerance: float,
    seed: int,
    notes: list[str],
) -> tuple[pd.DataFrame, str | None]:
    """The defence table (:data:`DEFENCE_COLUMNS`) and the recommended defence."""
    import pandas as pd

    from tuner.data.dataset import DetectionDataset

    recommended: str | None = "none" if judged.verdict == "resists" else None
    if not plan:
        return pd.DataFrame(columns=list(DEFENCE_COLUMNS)), recommended
    true_wd = setting.truth
    if true_wd is None:
        undefended = result.estimate
    else:
        undefended = judged.worst["estimate"] if judged.worst else math.nan
    table = price_defences(
        setting.released.model,
        plan,
        attack,
        undefended,
        true_wd,
        DetectionDataset(setting.splits.val),
        setting.device,
        seed,
        rule=setting.rule,
        notes=notes,
        batches=setting.batches,
    )
    if judged.verdict != "resists":
        recommended = recommend(table, true_wd, map_tolerance)
        if true_wd is None:
            notes.append("no defence is recommended without the truth (--vault)")
        elif recommended is None:
            notes.append(
                f"no defence tried pushes the estimate beyond {PARTIAL_WITHIN:g}x of the "
                f"truth within {map_tolerance:g} mAP; try stronger rounding or noise"
            )
    table["recommended"] = table["defence"] == recommended
    return table, recommended


def _second_channel(result: WeightDecayEstimate, recipe: Recipe | None) -> dict[str, Any] | None:
    """The second channel's estimate of ``wd / lr_eff``, against the recipe's when known."""
    eq = result.equilibrium
    if eq is None or not eq.groups or not math.isfinite(eq.estimate):
        return None
    truth = None
    if recipe is not None and recipe.lr and recipe.momentum is not None:
        truth = eq.truth(recipe.weight_decay, recipe.lr, recipe.momentum)
    ratio = eq.estimate / truth if truth and truth > 0 and eq.estimate > 0 else None
    return {
        "estimate": eq.estimate,
        "ci": list(eq.ci) if eq.ci is not None else None,
        "groups": eq.groups,
        "truth": truth,
        "ratio": ratio,
    }


def _threat_model(spec: ModelSpec, data: str, fraction: float, a: Mapping[str, Any]) -> str:
    """The threat model in words, without any recipe value (it is shown in redacted reports)."""
    if a["batch_size_source"] == "vault":
        batching = "in batches of the training batch size (from the sealed recipe)"
    else:
        where = "as given" if a["batch_size_source"] == "option" else "assumed"
        batching = f"in batches of {a['batch_size']} ({where})"
    if a["decay_rule_source"] == "vault":
        rule = "the parameters training decayed (from the sealed recipe)"
    else:
        rule = (
            "all weights, norms and biases"
            if a["decay_norm_and_bias"]
            else "conv and linear weights, not norms or biases"
        )
        rule += " (as given)" if a["decay_rule_source"] == "option" else " (assumed)"
    return (
        f"The attacker holds the released weights of the {spec.arch}/{spec.backbone} detector "
        f"({spec.image_size} px), knows its architecture and training loss, and has "
        f"{fraction:.0%} of the training images of '{data}', grouped at random {batching}. "
        "They evaluate the loss in train mode without augmentation and solve "
        "grad L + wd*w = 0 (SGD's coupled weight decay) for wd over "
        f"{rule}, leaving out scale-invariant groups, which carry no signal."
    )
