"""The verdict a reviewer acts on: how close the stolen weight decay came to the truth.

The ratio ``r = max(est/true, true/est)`` (``10 ** |log10(est/true)|``) decides:

==================  ==============================================================
``leaks``           ``r ≤ 1.5``: the attacker has the recipe's weight decay
``partial``         ``1.5 < r ≤ 10``: the right order of magnitude, a head start
``resists``         ``r > 10``, or no positive estimate: the weights do not give it away
``unknown``         no true value to compare with (the vault was not opened)
``not-applicable``  the recipe's optimizer decouples decay (AdamW), or it used none
==================  ==============================================================

A search over ``weight_decay`` usually spans 10⁻⁶…10⁻², four decades: an
estimate within 10× removes three of them.
"""

from __future__ import annotations

import math
from typing import Any

from audit.estimator import log10_error, relative_error

__all__ = [
    "LEAKS_WITHIN",
    "PARTIAL_WITHIN",
    "VERDICTS",
    "describe_verdict",
    "errors_against",
    "finite_or_none",
    "verdict_for",
]

#: Ratio up to which the estimate counts as a leak.
LEAKS_WITHIN = 1.5
#: Ratio up to which the estimate counts as a partial leak.
PARTIAL_WITHIN = 10.0
#: Every verdict, from worst to best for the owner, then the undecided ones.
VERDICTS = ("leaks", "partial", "resists", "unknown", "not-applicable")

_TEXT = {
    "leaks": "the released weights give the weight decay away (within 1.5x)",
    "partial": "the released weights give its order of magnitude away (within 10x)",
    "resists": "the attack's estimate is more than 10x off (or not positive)",
    "unknown": "no true value to compare with: unlock the vault (--vault) for a verdict",
    "not-applicable": "decoupled weight decay (AdamW): this attack does not apply",
}


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, ``None`` for a missing, non-numeric or non-finite one (JSON)."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def errors_against(
    estimate: float | None, truth: float | None
) -> tuple[float | None, float | None]:
    """``(relative error, |log10(estimate/truth)|)``, ``None`` where undefined.

    A non-positive or missing estimate has no log error (``None``) and a
    relative error only when it is a number.
    """
    if truth is None or estimate is None or not math.isfinite(estimate):
        return None, None
    rel = relative_error(float(estimate), float(truth))
    log = log10_error(float(estimate), float(truth))
    return (rel if math.isfinite(rel) else None), (log if math.isfinite(log) else None)


def verdict_for(estimate: float | None, truth: float | None, *, optimizer: str = "sgd") -> str:
    """The verdict of one estimate against the truth (see the module's table)."""
    if optimizer == "adamw" or truth == 0:
        return "not-applicable"
    if truth is None or not truth > 0:
        return "unknown"
    if estimate is None or not math.isfinite(estimate) or estimate <= 0:
        return "resists"
    ratio = 10 ** abs(math.log10(estimate / truth))
    if ratio <= LEAKS_WITHIN:
        return "leaks"
    if ratio <= PARTIAL_WITHIN:
        return "partial"
    return "resists"


def describe_verdict(verdict: str) -> str:
    """One line saying what a verdict means."""
    return _TEXT.get(verdict, verdict)
