"""What each defence costs and buys: re-attack the defended weights, re-evaluate mAP.

With the truth, each defended copy is judged by the owner's worst case of the
re-attack (as the verdict judges the undefended weights), so a defence is
recommended only when no usable variant stays within 10x; among those within
the mAP tolerance, the one that costs the least mAP (:func:`recommend`).

A ``rescale`` defence is also attacked by the adaptive attackers, who
rebalance the network first (:func:`audit.deep.reparam.rebalance`) or take the
median of per-channel estimates (:func:`audit.deep.reparam.channel_median`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audit.deep.defend import Defence, apply_defence
from audit.deep.verdict import errors_against, finite_or_none, verdict_for
from audit.errors import NoEquationError, NonFiniteError

if TYPE_CHECKING:
    import pandas as pd

    from audit.deep.steal import WeightDecayEstimate

__all__ = ["DEFENCE_COLUMNS", "price_defences", "recommend"]

#: Columns of :attr:`audit.deep.model_audit.DetectorAudit.defences`.
DEFENCE_COLUMNS: tuple[str, ...] = (
    "defence",
    "estimate",
    "relative_error",
    "log10_error",
    "adaptive_estimate",
    "adaptive_relative_error",
    "mAP",
    "mAP_lost",
    "recommended",
)

#: The attack on one model: the detector's loss, batches and settings already bound.
Attack = Callable[[Any], "WeightDecayEstimate"]


def price_defences(
    net: Any,
    plan: list[Defence],
    attack: Attack,
    undefended: float,
    truth: float | None,
    val_set: Any,
    dev: Any,
    seed: int,
    *,
    rule: bool = False,
    notes: list[str] | None = None,
    batches: Any = None,
) -> pd.DataFrame:
    """One row (:data:`DEFENCE_COLUMNS`) for the undefended weights and one per defence.

    Each defence is applied to a copy of ``net``, attacked again and its
    validation mAP evaluated; what a rescaling did is added to ``notes``.
    """
    import pandas as pd

    from audit.deep.reparam import detector_probe

    def score(model: Any) -> float:
        return _validation_map(model, val_set, dev)

    base = score(net)
    rows = [_row("none", undefended, truth, base, 0.0)]
    run = detector_probe(val_set) if any(d.kind == "rescale" for d in plan) else None
    for defence in plan:
        defended = copy.deepcopy(net)
        done = apply_defence(defended, defence, seed=seed, run=run)
        estimate = _attempt(attack, defended, truth)
        adaptive = None
        if done is not None and run is not None:
            adaptive = _adaptive(defended, attack, run, rule, truth, batches, dev)
            if notes is not None:
                notes.append(f"{defence.name}: {done.describe()}")
        m = score(defended)
        rows.append(_row(defence.name, estimate, truth, m, base - m, adaptive))
        del defended
    return pd.DataFrame(rows, columns=list(DEFENCE_COLUMNS))


def _validation_map(model: Any, val_set: Any, dev: Any) -> float:
    from tuner.evaluate import evaluate_model

    model.to(dev)
    try:
        return float(evaluate_model(model, val_set, dev)["mAP"])
    finally:
        model.to("cpu")


def _attempt(attack: Attack, model: Any, truth: float | None = None) -> float:
    """What the attack gets from ``model``, ``nan`` where it finds no equation.

    With the truth, the owner's worst case (the usable variant closest to it,
    ``nan`` when none is usable), as the verdict judges; else the attacker's pick.
    """
    try:
        result = attack(model)
    except (NoEquationError, NonFiniteError):  # e.g. rounding zeroed every weight
        return math.nan
    if truth is None or not truth > 0:
        return float(result.estimate)
    worst = result.worst_case(truth)
    return float(worst["estimate"]) if worst is not None else math.nan


def _adaptive(
    model: Any,
    attack: Attack,
    run: Any,
    rule: bool,
    truth: float | None,
    batches: Any = None,
    dev: Any = None,
) -> float:
    """The adaptive attackers against a rescaled copy; the owner's worst case of them.

    Rebalance, then attack, under both assumptions about junctions without
    decay on the producer side (:data:`audit.deep.reparam.PRIORS`); and, given
    the batches, the median of per-channel estimates. With the truth known the
    estimate closest to it is kept, else the first (rebalanced, ``geomean``).
    """
    from audit.deep.detector import detector_loss
    from audit.deep.reparam import channel_median, rebalance

    found = [
        _attempt(attack, rebalance(model, run, decay_norm_and_bias=rule, prior=prior), truth)
        for prior in ("geomean", "unit")
    ]
    if batches is not None:
        found.append(
            channel_median(model, detector_loss, batches, run, decay_norm_and_bias=rule, device=dev)
        )
    positive = [e for e in found if math.isfinite(e) and e > 0]
    if truth is None or not truth > 0 or not positive:
        return found[0]
    return min(positive, key=lambda e: abs(math.log10(e / truth)))


def _row(
    name: str,
    estimate: float,
    truth: float | None,
    m: float,
    lost: float,
    adaptive: float | None = None,
) -> dict:
    value = estimate if math.isfinite(estimate) else None
    rel, log = errors_against(value, truth)
    adaptive = adaptive if adaptive is not None and math.isfinite(adaptive) else None
    return {
        "defence": name,
        "estimate": value,
        "relative_error": rel,
        "log10_error": log,
        "adaptive_estimate": adaptive,
        "adaptive_relative_error": errors_against(adaptive, truth)[0],
        "mAP": m,
        "mAP_lost": lost,
        "recommended": False,
    }


def recommend(table: pd.DataFrame, truth: float | None, tolerance: float) -> str | None:
    """The cheapest defence in ``table`` that resists within ``tolerance`` mAP (``None``: none)."""
    if truth is None:
        return None
    best: tuple[float, int, str] | None = None
    for i, row in enumerate(table.itertuples(index=False)):
        if row.defence == "none":
            continue
        # judged by the stronger attacker: a rescaled release must resist the adaptive one too
        judged = [row.estimate]
        if str(row.defence).startswith("rescale"):
            judged.append(getattr(row, "adaptive_estimate", None))
        if any(verdict_for(finite_or_none(e), truth) != "resists" for e in judged):
            continue
        if not row.mAP_lost <= tolerance:
            continue
        candidate = (float(row.mAP_lost), i, str(row.defence))
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None
