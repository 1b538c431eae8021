"""What the attack returns: the :class:`WeightDecayEstimate` and how it is put together.

:func:`assemble` turns the portfolio's views and variants
(:mod:`audit.deep.variants`) into the result: the variants' table with their
calibrated intervals, the attacker's pick (:mod:`audit.deep.calibration`), the
groups' table, the estimator core's diagnostics, the second channel
(:mod:`audit.deep.equilibrium`) and the notes a reviewer reads.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.deep.batching import Batchings
from audit.deep.calibration import attackers_pick, calibrate, usable
from audit.deep.equilibrium import EquilibriumEstimate, equilibrium_estimate
from audit.deep.groups import ParameterGroup
from audit.deep.variants import VariantRow, View
from audit.deep.verdict import finite_or_none
from audit.estimator import Solution, solve_reduced

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["GROUP_COLUMNS", "VARIANT_COLUMNS", "WeightDecayEstimate", "assemble"]

#: Columns of :attr:`WeightDecayEstimate.groups`, in order.
GROUP_COLUMNS: tuple[str, ...] = (
    "group",
    "parameters",
    "estimate",
    "scale_invariant",
    "cosine",
    "invariance",
    "followed_by_norm",
    "informative",
    "weight_norm",
    "grad_norm",
    "note",
)

#: Columns of :attr:`WeightDecayEstimate.variants`, in order.
VARIANT_COLUMNS: tuple[str, ...] = (
    "variant",
    "view",
    "solve",
    "estimate",
    "ci_low",
    "ci_high",
    "spread",
    "cosine",
    "groups",
    "corrected",
    "calibrated_low",
    "calibrated_high",
    "usable",
    "pick",
    "note",
)


@dataclass(frozen=True)
class WeightDecayEstimate:
    """What the attacker learns about ``weight_decay`` (torch's SGD convention).

    Attributes:
        estimate: The attacker's pick (:attr:`pick`) with its measured bias
            removed; when no variant is usable (:attr:`reliable` ``False``), the
            informative-group solve as it is (``nan`` without an informative group).
        plain_estimate: The paper's estimate over every decayed parameter.
        ci: Calibrated interval of :attr:`estimate` (``None`` when unreliable);
            :attr:`ci_method` says how it was made.
        groups: One row per parameter group (columns :data:`GROUP_COLUMNS`).
        solution: Diagnostics of the informative solve (``None`` without one).
        plain_solution: Diagnostics of the plain solve.
        n_batches: Batches the gradient was summed over.
        n_decayed: Decayed scalars (equations of the plain estimate).
        n_informative: Decayed scalars in informative groups.
        confidence: Coverage of :attr:`ci`.
        ci_method: How :attr:`ci` was made, or why there is none.
        notes: Plain-language caveats.
        seconds: Wall time of the whole call.
        variants: Every variant of the portfolio (columns :data:`VARIANT_COLUMNS`).
        pick: The attacker's pick (a ``variant`` of :attr:`variants`).
        pick_reason: Why that variant, or why none is usable.
        reliable: Whether a variant was usable (else :attr:`ci` is ``None``).
        normalised: Whether some decayed group is scale-invariant (the
            calibration class).
        equilibrium: The second channel, ``wd / lr_eff`` from the norms of the
            scale-invariant groups (:mod:`audit.deep.equilibrium`).
    """

    estimate: float
    plain_estimate: float
    ci: tuple[float, float] | None
    groups: pd.DataFrame
    solution: Solution | None
    plain_solution: Solution
    n_batches: int
    n_decayed: int
    n_informative: int
    confidence: float = 0.95
    ci_method: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    variants: pd.DataFrame | None = None
    pick: str = ""
    pick_reason: str = ""
    reliable: bool = False
    normalised: bool = False
    equilibrium: EquilibriumEstimate | None = None

    def worst_case(self, truth: float, *, usable_only: bool = True) -> dict[str, Any] | None:
        """The owner's worst case: the variant that lands closest to ``truth``.

        Raw and corrected estimates count, of every variant an attacker could
        trust without the truth (``usable``: the rules of the pick, see
        :mod:`audit.deep.calibration`), or of every variant with
        ``usable_only=False``. Returns ``{"variant", "estimate", "ratio"}``
        (``ratio`` = ``max(e/t, t/e)``), or ``None`` when no such variant gave a
        positive estimate. Among a dozen variants that an attacker cannot
        tell apart, one lands near the truth by chance; that is not a leak.
        """
        if self.variants is None or not truth > 0:
            return None
        best: dict[str, Any] | None = None
        for row in self.variants.itertuples(index=False):
            if usable_only and not row.usable:
                continue
            for label, value in (
                (row.variant, row.estimate),
                (f"{row.variant}, corrected", row.corrected),
            ):
                if not (isinstance(value, float) and math.isfinite(value) and value > 0):
                    continue
                ratio = 10 ** abs(math.log10(value / truth))
                if best is None or ratio < best["ratio"]:
                    best = {"variant": label, "estimate": float(value), "ratio": ratio}
        return best

    @property
    def pinned(self) -> bool | None:
        """Whether the interval is positive and within one decade (``None`` without one).

        ``False`` means the attacker's data and weights do not pin the value
        down: groups or batches disagree by more than a factor of ten.
        """
        return None if self.ci is None else _pinned(self.ci)

    @property
    def scale_invariant_groups(self) -> list[str]:
        """Names of the groups found scale-invariant."""
        return list(self.groups.loc[self.groups["scale_invariant"], "group"])

    def summary(self) -> dict[str, Any]:
        """Plain JSON-friendly values (estimates included: keep it private)."""
        return {
            "estimate": finite_or_none(self.estimate),
            "plain_estimate": finite_or_none(self.plain_estimate),
            "ci": list(self.ci) if self.ci is not None else None,
            "ci_method": self.ci_method,
            "pinned": self.pinned,
            "confidence": self.confidence,
            "n_batches": self.n_batches,
            "n_decayed": self.n_decayed,
            "n_informative": self.n_informative,
            "scale_invariant_groups": self.scale_invariant_groups,
            "relative_residual": (
                self.solution.relative_residual if self.solution is not None else None
            ),
            "plain_relative_residual": self.plain_solution.relative_residual,
            "pick": self.pick,
            "pick_reason": self.pick_reason,
            "reliable": self.reliable,
            "wd_over_lr_eff": (
                finite_or_none(self.equilibrium.estimate) if self.equilibrium else None
            ),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


# -- from the views to the result -----------------------------------------------------------


def _variant_name(row: VariantRow, view: View | None) -> str:
    if row.view == "train" and view is not None and view.n_batchings > 1:
        return f"train x{view.n_batchings} {row.solve}"
    return f"{row.view} {row.solve}"


def assemble(
    *,
    groups: list[ParameterGroup],
    primary: View,
    rows: list[VariantRow],
    normalised: bool,
    portfolio: bool,
    data: Batchings,
    skipped: list[str],
    confidence: float,
    started: float,
) -> WeightDecayEstimate:
    """The result of the attack: the variants, the pick, the groups, diagnostics and notes."""
    variants = _variant_frame(rows, primary, normalised, portfolio)
    pooled = next(r for r in rows if r.view == primary.name and r.solve == "pooled")
    plain = next(r for r in rows if r.view == primary.name and r.solve == "plain")
    notes = _notes(primary, pooled, normalised, data, skipped)
    index, reason = (
        attackers_pick(rows, normalised) if portfolio else (None, "single variant (portfolio off)")
    )
    if index is not None:
        variants.loc[index, "pick"] = True
        chosen = variants.loc[index]
        estimate = float(chosen["corrected"])
        ci: tuple[float, float] | None = (
            float(chosen["calibrated_low"]),
            float(chosen["calibrated_high"]),
        )
        pick = str(chosen["variant"])
        ci_method = (
            f"calibrated on networks trained with a known weight decay "
            f"({'normalised' if normalised else 'without normalisation'}), widened by a "
            f"{confidence:.0%} bootstrap of the batches"
        )
    elif portfolio:
        estimate, ci, pick = pooled.estimate, None, _variant_name(pooled, primary)
        ci_method = f"unreliable ({reason}): no calibrated interval"
        notes.append(
            "unreliable: the estimate shown is the informative-group solve without "
            "correction; the weights do not let an attacker pin the weight decay down "
            "by any variant tried"
        )
    else:
        estimate, ci, pick = pooled.estimate, pooled.ci, _variant_name(pooled, primary)
        ci_method = pooled.ci_method or "no interval"
    solution, plain_solution = _solutions(primary)
    if solution is not None and solution.relative_residual > 0.5:
        notes.append(
            f"relative residual {solution.relative_residual:.2f}: the loss gradient is mostly "
            "not along the weights, as with SGD stopped short of a stationary point"
        )
    return WeightDecayEstimate(
        estimate=float(estimate),
        plain_estimate=float(plain.estimate),
        ci=ci,
        groups=_group_frame(groups, primary),
        solution=solution,
        plain_solution=plain_solution,
        n_batches=int(np.sum(primary.batching == 0)),
        n_decayed=int(primary.sizes.sum()),
        n_informative=int(primary.sizes[primary.informative].sum()),
        confidence=confidence,
        ci_method=ci_method,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
        variants=variants,
        pick=pick,
        pick_reason=reason,
        reliable=index is not None,
        normalised=normalised,
        equilibrium=equilibrium_estimate(
            primary.grad_sq_all,
            primary.weight_sq_all,
            primary.numeric | primary.fed,
            confidence=confidence,
            seed=0,
        ),
    )


def _variant_frame(
    rows: list[VariantRow], primary: View, normalised: bool, portfolio: bool
) -> pd.DataFrame:
    """One row per variant: its estimate, interval, calibration and usability."""
    import pandas as pd

    records = []
    for row in rows:
        cal = calibrate(row, normalised) if portfolio else None
        why_not = usable(row, normalised) if portfolio else ""
        records.append(
            {
                "variant": _variant_name(row, primary if row.view == primary.name else None),
                "view": row.view,
                "solve": row.solve,
                "estimate": row.estimate,
                "ci_low": row.ci[0] if row.ci else math.nan,
                "ci_high": row.ci[1] if row.ci else math.nan,
                "spread": row.spread,
                "cosine": row.cosine,
                "groups": row.groups,
                "corrected": cal.corrected if cal else math.nan,
                "calibrated_low": cal.low if cal else math.nan,
                "calibrated_high": cal.high if cal else math.nan,
                "usable": portfolio and not why_not,
                "pick": False,
                "note": row.note or why_not,
            }
        )
    return pd.DataFrame(records, columns=list(VARIANT_COLUMNS))


def _solutions(view: View) -> tuple[Solution | None, Solution]:
    """The estimator core's diagnostics: the informative solve (if any) and the plain one."""
    inf = view.informative

    def solve(mask: np.ndarray) -> Solution:
        return solve_reduced(
            float(view.weight_sq[mask].sum()),
            float(view.mean_dots[mask].sum()),
            float(view.mean_grad_sq[mask].sum()),
            n_equations=int(view.sizes[mask].sum()),
            n_informative=int(view.nonzero[mask].sum()),
        )

    every = np.ones_like(inf, dtype=bool)
    return (solve(inf) if np.any(inf) else None), solve(every)


def _group_frame(groups: list[ParameterGroup], view: View) -> pd.DataFrame:
    import pandas as pd

    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(view.weight_sq > 0, -view.mean_dots / view.weight_sq, np.nan)
        cosine = np.where(
            (view.weight_sq > 0) & (view.mean_grad_sq > 0),
            view.mean_dots / np.sqrt(view.weight_sq * view.mean_grad_sq),
            np.nan,
        )
    rows = []
    for gi, group in enumerate(groups):
        note = ""
        if view.unused[gi]:
            note = "no loss gradient on the known data: left out"
        elif view.weight_sq[gi] <= 0:
            note = "all decayed weights are zero: left out"
        elif view.numeric[gi]:
            note = "scale-invariant: w'grad L = 0 on every batch, no signal; left out"
        elif view.fed[gi]:
            note = (
                f"feeds a normalisation layer: scale-invariant by design (max |cos| "
                f"{view.invariance[gi]:.1e}, the norm's eps at small weights); left out"
            )
        elif view.partner[gi]:
            note = f"free partner {view.partner[gi]} (undecayed norm affine): balanced solve"
        rows.append(
            {
                "group": group.name,
                "parameters": int(view.sizes[gi]),
                "estimate": float(own[gi]),
                "scale_invariant": bool(view.numeric[gi] or view.fed[gi]),
                "cosine": float(cosine[gi]),
                "invariance": float(view.invariance[gi]),
                "followed_by_norm": bool(view.fed[gi]),
                "informative": bool(view.informative[gi]),
                "weight_norm": math.sqrt(float(view.weight_sq[gi])),
                "grad_norm": math.sqrt(float(view.mean_grad_sq[gi])),
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=list(GROUP_COLUMNS))


def _notes(
    view: View, pooled: VariantRow, normalised: bool, data: Batchings, skipped: list[str]
) -> list[str]:
    notes: list[str] = []
    invariant = view.numeric | view.fed
    if not np.any(view.informative):
        notes.append(
            "every decayed group is scale-invariant or unused: the weights give no estimate "
            "of weight decay through this equation"
        )
    broken = view.fed & ~view.numeric & ~view.unused
    if np.any(broken):
        notes.append(
            f"{int(broken.sum())} group(s) feed a normalisation layer but their gradient is not "
            "exactly orthogonal to their weights (the norm's eps matters once weight decay has "
            "shrunk them, or their output also goes elsewhere); they are treated as "
            "scale-invariant: what signal they carry comes from the norm's eps, not from the loss"
        )
    if np.any(invariant):
        share = view.weight_sq[invariant].sum() / view.weight_sq.sum()
        notes.append(
            f"{int(invariant.sum())} of {len(invariant)} groups are scale-invariant ({share:.0%} "
            "of the squared weight norm): the plain estimate is pulled toward zero by them"
        )
    if math.isfinite(pooled.estimate) and pooled.estimate <= 0:
        notes.append(
            "the informative-group estimate is not positive: the weights are far from a "
            "stationary point of loss + weight decay (unconverged SGD)"
        )
    if data.dropped:
        notes.append(
            f"{data.dropped} row(s) of a short last batch left out of each batching, as "
            "training's drop_last does (BatchNorm on a few rows gives another gradient)"
        )
    if data.kind == "as given":
        notes.append(
            "the batches could not be regrouped (not tensors sharing their first dimension): "
            "one batching, as given"
        )
    notes += [f"not run: {s}" for s in skipped]
    return notes


def _pinned(ci: tuple[float, float]) -> bool:
    return ci[0] > 0 and ci[1] <= 10 * ci[0]
