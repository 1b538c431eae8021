"""Calibrated intervals and the attacker's pick, from networks trained with a known weight decay.

SGD stops short of a stationary point, and on normalised networks it stops
short in one direction: the estimates run low, by an amount a bootstrap over
batches cannot see (it resamples the data, not the training run). So the
interval comes from measurement: ``benchmarks/audit_calibration.py`` trains
families of small networks with known weight decay (MLPs and CNNs, without
normalisation, with BatchNorm, with GroupNorm; several decays, batch sizes,
schedule lengths and seeds), attacks each, and records, per variant and per
class of network, the quantiles of ``log10(estimate / truth)``. :data:`TABLE`
holds those quantiles (the benchmark's ``--fit`` prints a new table).

For a variant with estimate ``e`` and error quantiles ``q_lo ≤ q_mid ≤ q_hi``:

* the *corrected* estimate is ``e · 10^−q_mid`` (the median bias removed);
* the interval for the truth is ``[e · 10^−q_hi, e · 10^−q_lo]``, widened to
  hold ``e`` itself (training that reached its stationary point gives the
  truth exactly, which networks trained for a budget never showed) and the
  bootstrap interval's own spread around ``e``.

The class and the bin are what the attacker sees: the class is
``normalised`` when some decayed group is scale-invariant, ``plain``
otherwise; the bin is ``aligned`` when the variant's mean loss gradient lies
within ``acos(0.9)`` of ``−w`` (cosine ≤ −0.9, close to the stationary point
the equation assumes) and ``loose`` otherwise. Measured: aligned estimates
land within 2.3x of the truth, loose ones up to 7x away (docs/audit.md).
Each end is the outer of a split-conformal order statistic (with ``n``
networks in a bin, the ``⌊(n+1)·0.025⌋``-th smallest or largest error, the
extremes below 39 networks) and the normal prediction interval ``mean ±
t(0.975, n−1)·sd·√(1 + 1/n)``: the order statistic alone promises 95 % only
when networks are exchangeable, and errors cluster by training setting.

**The attacker's pick.** Among the variants that are *usable* — a positive
estimate, a bootstrap interval clear of zero where there is one, estimates of
single batchings within 50 % of each other, a mean gradient at least as well
aligned with ``−w`` as on the calibration networks (cosine at most
``max_cosine``), and an entry in the table — the attacker takes the one with
the narrowest calibrated interval: the variant whose error was most
predictable on networks like this one. The single-group solve must be aligned (one layer's
gradient is all it has: on the tiny FCOS the best layer, at cosine -0.3, gave
60x the truth) and beat the others by :data:`SINGLE_GROUP` (1.5x): one layer
is a smaller sample than all of them, and on a network trained otherwise than
the calibration ones (a
full-batch, converged regression MLP) it landed 13 % off where the pooled
solve was exact. With no usable variant the audit says *unreliable* and
prints no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from audit.deep.variants import VariantRow

__all__ = [
    "ALIGNED",
    "MAX_SPREAD",
    "SINGLE_GROUP",
    "TABLE",
    "Calibrated",
    "Entry",
    "attackers_pick",
    "calibrate",
    "usable",
]

#: Largest relative difference between single batchings' estimates of a usable variant.
MAX_SPREAD = 0.5
#: Cosine between ``w`` and the mean gradient at or below which a variant is ``aligned``.
ALIGNED = -0.9
#: Handicap of the single-group solve in the pick: its interval must be this much narrower.
SINGLE_GROUP = 1.5


@dataclass(frozen=True)
class Entry:
    """Measured errors of one variant on one class of network.

    Attributes:
        q_lo: 2.5 % quantile of ``log10(estimate / truth)``.
        q_mid: Median.
        q_hi: 97.5 % quantile.
        max_cosine: The largest (worst) cosine between ``w`` and the mean
            gradient seen on the calibration networks.
        n: Networks measured.
    """

    q_lo: float
    q_mid: float
    q_hi: float
    max_cosine: float
    n: int

    @property
    def width(self) -> float:
        """Decades between the interval's ends."""
        return self.q_hi - self.q_lo


@dataclass(frozen=True)
class Calibrated:
    """A variant's estimate with the measured bias removed and its calibrated interval."""

    corrected: float
    low: float
    high: float
    entry: Entry


#: (class, view, solve, bin) → measured errors. Written by ``audit_calibration.py --fit``.
TABLE: dict[tuple[str, str, str, str], Entry] = {
    ("normalised", "eval", "balanced", "loose"): Entry(-0.825, -0.177, 0.479, -0.118, 432),
    ("normalised", "eval", "best-group", "aligned"): Entry(-0.667, -0.352, -0.107, -0.901, 147),
    ("normalised", "eval", "best-group", "loose"): Entry(-1.075, -0.381, 0.860, -0.260, 285),
    ("normalised", "eval", "plain", "loose"): Entry(-0.887, -0.217, 0.370, -0.088, 432),
    ("normalised", "eval", "pooled", "loose"): Entry(-0.887, -0.217, 0.370, -0.088, 432),
    ("normalised", "full", "balanced", "aligned"): Entry(-0.577, -0.300, -0.030, -0.900, 153),
    ("normalised", "full", "balanced", "loose"): Entry(-0.857, -0.329, 0.472, -0.488, 171),
    ("normalised", "full", "best-group", "aligned"): Entry(-0.652, -0.329, -0.027, -0.900, 153),
    ("normalised", "full", "best-group", "loose"): Entry(-0.995, -0.472, 0.155, -0.488, 171),
    ("normalised", "full", "plain", "loose"): Entry(-1.339, -0.659, -0.070, -0.122, 324),
    ("normalised", "full", "pooled", "aligned"): Entry(-0.652, -0.329, -0.027, -0.900, 153),
    ("normalised", "full", "pooled", "loose"): Entry(-0.995, -0.472, 0.155, -0.488, 171),
    ("normalised", "train", "balanced", "aligned"): Entry(-0.546, -0.157, 0.061, -0.900, 353),
    ("normalised", "train", "balanced", "loose"): Entry(-0.744, -0.210, 0.594, -0.160, 511),
    ("normalised", "train", "best-group", "aligned"): Entry(-0.621, -0.176, 0.062, -0.900, 353),
    ("normalised", "train", "best-group", "loose"): Entry(-0.906, -0.348, 0.344, -0.160, 511),
    ("normalised", "train", "plain", "loose"): Entry(-1.244, -0.645, -0.087, -0.021, 864),
    ("normalised", "train", "pooled", "aligned"): Entry(-0.621, -0.176, 0.062, -0.900, 353),
    ("normalised", "train", "pooled", "loose"): Entry(-0.906, -0.348, 0.344, -0.160, 511),
    ("plain", "train", "best-group", "aligned"): Entry(-0.147, 0.000, 0.161, -0.900, 256),
    ("plain", "train", "best-group", "loose"): Entry(-0.467, 0.094, 0.881, -0.358, 176),
    ("plain", "train", "plain", "aligned"): Entry(-0.097, -0.009, 0.039, -0.900, 185),
    ("plain", "train", "plain", "loose"): Entry(-0.600, -0.046, 0.724, -0.249, 247),
    ("plain", "train", "pooled", "aligned"): Entry(-0.097, -0.009, 0.039, -0.900, 185),
    ("plain", "train", "pooled", "loose"): Entry(-0.600, -0.046, 0.724, -0.249, 247),
}


def key(row: VariantRow, normalised: bool) -> tuple[str, str, str, str]:
    """Where ``row``'s measured errors are in :data:`TABLE`."""
    aligned = row.cosine <= ALIGNED
    return (
        "normalised" if normalised else "plain",
        row.view,
        row.solve,
        "aligned" if aligned else "loose",
    )


def calibrate(row: VariantRow, normalised: bool) -> Calibrated | None:
    """The corrected estimate and calibrated interval of ``row`` (``None`` without an entry)."""
    entry = TABLE.get(key(row, normalised))
    if entry is None or not row.estimate > 0:
        return None
    e = row.estimate
    # a stationary point gives the raw estimate exactly: the interval always holds it
    low, high = e * 10 ** (-max(entry.q_hi, 0.0)), e * 10 ** (-min(entry.q_lo, 0.0))
    if row.ci is not None and row.ci[0] > 0:
        low = min(low, row.ci[0] * 10 ** (-entry.q_mid))
        high = max(high, row.ci[1] * 10 ** (-entry.q_mid))
    return Calibrated(e * 10 ** (-entry.q_mid), low, high, entry)


def usable(row: VariantRow, normalised: bool) -> str:
    """Why ``row`` cannot be the attacker's pick, or ``""`` when it can."""
    if not math.isfinite(row.estimate):
        return row.note or "no estimate"
    if not row.estimate > 0:
        return "estimate not positive"
    if row.ci is not None and row.ci[0] <= 0:
        return "bootstrap interval reaches zero"
    if math.isfinite(row.spread) and row.spread > MAX_SPREAD:
        return f"batchings disagree by {row.spread:.0%}"
    if row.solve == "best-group" and not row.cosine <= ALIGNED:
        return f"a single group far from its stationary point (cosine {row.cosine:.2f})"
    entry = TABLE.get(key(row, normalised))
    if entry is None:
        return "not calibrated"
    if not row.cosine <= entry.max_cosine:
        return (
            f"gradient less aligned with -w (cosine {row.cosine:.2f}) than on any "
            f"calibration network ({entry.max_cosine:.2f})"
        )
    return ""


def attackers_pick(rows: list[VariantRow], normalised: bool) -> tuple[int | None, str]:
    """The index of the attacker's pick in ``rows`` and the reason, or ``None`` and why not."""
    best: tuple[float, int] | None = None
    reasons: dict[str, int] = {}
    for i, row in enumerate(rows):
        why = usable(row, normalised).split(" (")[0]
        if why:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        width = TABLE[key(row, normalised)].width * (
            SINGLE_GROUP if row.solve == "best-group" else 1
        )
        if best is None or width < best[0]:
            best = (width, i)
    if best is None:
        listed = "; ".join(f"{why} ({n})" for why, n in reasons.items())
        return None, f"no variant is usable: {listed}"
    n_ok = len(rows) - sum(reasons.values())
    return best[1], (
        f"narrowest calibrated interval ({10 ** best[0]:.2g}x from end to end) among "
        f"{n_ok} usable variant(s)"
    )
