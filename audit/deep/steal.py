"""Steal the weight decay of any torch model from its released weights and training data.

SGD with (coupled) weight decay ``wd`` minimises ``L(w) + wd/2 · ‖w‖²`` over
the decayed parameters, ``L`` the mean training loss. At a stationary point
``∇L(w*) + wd · w* = 0``: one equation per decayed coordinate, one unknown.
:func:`steal_weight_decay` is where the weight decay is stolen. It runs a
portfolio of attackers on the same weights and data and reports each:

* views (:mod:`audit.deep.gradients`, :mod:`audit.deep.batching`): train mode
  at training's batch size averaged over random batchings, train mode on the
  whole set as one batch, eval mode with BatchNorm's running statistics;
* solves per view (:mod:`audit.deep.variants`): the informative groups pooled,
  the same balanced for free norm-layer partners, the best single group, and
  the paper's plain solve over every decayed parameter;
* the attacker's pick and its calibrated interval (:mod:`audit.deep.calibration`).

Memory: what one training step needs plus one gradient-sized buffer and a few
numbers per batch and parameter tensor, whatever the data size. Time: one
forward and backward pass per batch of each pass (two train batchings and, for
networks with BatchNorm, one eval pass and a full batch where the data fits).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from audit.deep.batching import Batchings
from audit.deep.calibration import attackers_pick, calibrate, usable
from audit.deep.combine import solve_reduced
from audit.deep.equilibrium import EquilibriumEstimate, equilibrium_estimate
from audit.deep.gradients import LossFn, borrowed, gradient_pass, pick_device
from audit.deep.groups import NORM_TYPES, ParameterGroup, parameter_groups
from audit.deep.scale import DEFAULT_TOL
from audit.deep.variants import VariantRow, View, solve_view, view_of
from audit.errors import AuditOptionError, NoEquationError, UnsupportedModelError
from tuner.progress import Progress

if TYPE_CHECKING:
    import pandas as pd

    from audit.estimator import Solution

__all__ = [
    "ADAMW_EXPLANATION",
    "GROUP_COLUMNS",
    "VARIANT_COLUMNS",
    "LossFn",
    "WeightDecayEstimate",
    "steal_weight_decay",
]

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

#: What the audit says instead of a number for a model trained with AdamW.
ADAMW_EXPLANATION = (
    "AdamW decays weights outside the gradient (decoupled decay): at its equilibrium "
    "m/(sqrt(v)+eps) = -wd*w, i.e. the loss gradient is proportional to -wd*w only after a "
    "per-coordinate division by the optimizer's second-moment state v, which is not released. "
    "The equation grad L + wd*w = 0 that SGD's coupled decay satisfies does not hold, so the "
    "weights and data give no estimate of weight_decay by this attack, and the audit reports "
    "none rather than a number that means nothing. Not measured here: what the weights reveal "
    "about AdamW by other means."
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
            "estimate": _finite_or_none(self.estimate),
            "plain_estimate": _finite_or_none(self.plain_estimate),
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
                _finite_or_none(self.equilibrium.estimate) if self.equilibrium else None
            ),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def steal_weight_decay(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    *,
    decay_norm_and_bias: bool = False,
    decayed: Callable[[str, nn.Parameter], bool] | None = None,
    optimizer: str = "sgd",
    device: str | torch.device | None = "auto",
    amp: bool = False,
    train_mode: bool = True,
    batchings: int = 2,
    portfolio: bool = True,
    invariance_tol: float = DEFAULT_TOL,
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> WeightDecayEstimate:
    """Estimate the SGD weight decay a model was trained with, from its weights and data.

    Runs the portfolio of attack variants (:mod:`audit.deep.variants`) and
    returns the attacker's pick (:mod:`audit.deep.calibration`) with every
    variant in :attr:`WeightDecayEstimate.variants`. The model is left as it
    was: its parameters, buffers (BatchNorm running statistics), device and
    train/eval mode are restored; its ``.grad`` fields are cleared.

    Args:
        model: The model with its released weights.
        loss_fn: ``loss_fn(model, batch)`` returns the mean training loss of one
            batch as a scalar tensor, as training computed it (no augmentation).
        batches: The batches the attacker knows, at training's batch size.
            Tensors inside them (also in tuples, lists and dicts) are moved to
            the device. Batches of tensors sharing their first dimension are
            regrouped at random for each batching (:mod:`audit.deep.batching`).
        decay_norm_and_bias: Training's rule for which parameters were decayed
            (:func:`tuner.train.params.split_decayed`).
        decayed: A predicate ``(name, parameter) -> bool`` overriding that rule.
        optimizer: ``sgd`` (coupled decay: the attack applies). ``adamw`` raises
            :class:`UnsupportedModelError` with :data:`ADAMW_EXPLANATION`.
        device: ``auto`` (CUDA when present), ``None`` (where the model is), or a device.
        amp: Run the forward pass under CUDA autocast (faster, less exact).
        train_mode: ``False`` evaluates the loss in eval mode only (one variant view).
        batchings: Random batchings averaged in train mode (when the batches
            can be regrouped).
        portfolio: ``False`` runs one train-mode batching only (the paper's
            attacker with the informative-group solve), without calibration.
        invariance_tol: Threshold of the scale-invariance test (lowered to
            ``0.1/√n`` for groups of ``n`` parameters, see :mod:`audit.deep.scale`).
        confidence: Coverage of the bootstrap intervals.
        n_bootstrap: Bootstrap replicates.
        seed: Seed of the batchings and the bootstrap.
        progress: Receives one step per batch.

    Returns:
        The :class:`WeightDecayEstimate`.

    Raises:
        UnsupportedModelError: ``optimizer`` is ``adamw`` (decoupled decay).
        AuditOptionError: no batch, or an option out of range.
        NoEquationError: no decayed parameter, or all decayed weights are zero.
        NonFiniteError: a batch loss or gradient is NaN or infinite.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(3, 1)
        >>> X, y = torch.randn(64, 3), torch.randn(64, 1)
        >>> def loss_fn(model, batch):
        ...     return torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        >>> res = steal_weight_decay(net, loss_fn, [(X, y)], device="cpu")
        >>> list(res.groups["group"])
        ['model']
    """
    started = time.perf_counter()
    _check(optimizer, confidence, invariance_tol, n_bootstrap, batchings)
    groups = parameter_groups(
        model, decay_norm_and_bias=decay_norm_and_bias, decayed=decayed, include_undecayed=True
    )
    if not any(g.decayed for g in groups):
        raise NoEquationError(
            "the model has no decayed parameter under this rule, so weight decay left no "
            "trace in it; check decay_norm_and_bias"
        )
    dev = pick_device(model, device)
    data = Batchings(batches, count=batchings if portfolio else 1, seed=seed)
    names = [g.name for g in groups]
    has_decayed = np.array([bool(g.decayed) for g in groups])
    views: dict[str, View] = {}
    skipped: list[str] = []

    def run(name: str, passes: list[Iterable[Any]], train: bool) -> None:
        stats = [
            gradient_pass(
                model,
                loss_fn,
                b,
                groups,
                dev,
                train_mode=train,
                amp=amp,
                progress=progress,
                label=f"loss gradients ({name})",
            )
            for b in passes
        ]
        views[name] = view_of(name, stats, names, has_decayed, invariance_tol)

    with borrowed(model, dev):
        if not train_mode:
            run("eval", [data.batching(0)], False)
        else:
            run("train", [data.batching(k) for k in range(data.count)], True)
            if portfolio:
                full = data.full()
                if full is None:
                    skipped.append("full batch: the data cannot be regrouped or is too large")
                elif not _batch_dependent(model):
                    skipped.append("full batch: no BatchNorm, the same as train mode")
                else:
                    run("full", [full], True)
                if _batch_dependent(model):
                    run("eval", [_EveryOther(data.batching(0))], False)
                else:
                    skipped.append("eval mode: no BatchNorm or dropout, the same as train mode")
    primary = views["train" if train_mode else "eval"]
    if not np.any(primary.weight_sq > 0):
        raise NoEquationError(
            "every decayed weight is zero, so the weights say nothing about weight decay"
        )
    rows = [
        row
        for view in views.values()
        for row in solve_view(view, confidence=confidence, n_bootstrap=n_bootstrap, seed=seed)
    ]
    if train_mode:
        normalised = bool(np.any(primary.numeric | primary.fed))
    else:  # eval mode hides BatchNorm's invariance: judge by the layers the model has
        normalised = any(isinstance(m, NORM_TYPES) for m in model.modules())
    return _assemble(
        groups=[g for g in groups if g.decayed],
        primary=primary,
        rows=rows,
        normalised=normalised,
        portfolio=portfolio,
        data=data,
        skipped=skipped,
        confidence=confidence,
        started=started,
    )


def _check(optimizer: str, confidence: float, tol: float, n_bootstrap: int, batchings: int) -> None:
    family = optimizer.lower()
    if family == "adamw":
        raise UnsupportedModelError(ADAMW_EXPLANATION)
    if family != "sgd":
        raise AuditOptionError(
            f"optimizer {optimizer!r} is not one the audit knows; use sgd or adamw"
        )
    if not 0 < confidence < 1:
        raise AuditOptionError(f"confidence {confidence} must lie strictly between 0 and 1")
    if tol < 0 or n_bootstrap < 1:
        raise AuditOptionError("invariance_tol must be >= 0 and n_bootstrap >= 1")
    if batchings < 1:
        raise AuditOptionError(f"batchings {batchings} must be at least 1")


class _EveryOther:
    """Every other batch (the first, third, …): the eval view's half of the data.

    In eval mode a batch's gradient is the mean of its images' gradients, so
    half the batches estimate the mean over all of them without bias, at half
    the cost; the bootstrap over batches carries the extra noise.
    """

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        n = len(self.batches) if hasattr(self.batches, "__len__") else 0  # type: ignore[arg-type]
        return (n + 1) // 2

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i, batch in enumerate(self.batches):
            if i % 2 == 0:
                yield batch


def _batch_dependent(model: nn.Module) -> bool:
    """Whether train and eval mode give different gradients (BatchNorm, dropout)."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
    return any(isinstance(m, kinds) for m in model.modules())


# -- from the views to the result -----------------------------------------------------------


def _variant_name(row: VariantRow, view: View | None) -> str:
    if row.view == "train" and view is not None and view.n_batchings > 1:
        return f"train x{view.n_batchings} {row.solve}"
    return f"{row.view} {row.solve}"


def _assemble(
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
    import pandas as pd

    frame = _group_frame(groups, primary)
    by_view = {primary.name: primary}
    records = []
    for row in rows:
        cal = calibrate(row, normalised) if portfolio else None
        records.append(
            {
                "variant": _variant_name(row, by_view.get(row.view)),
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
                "usable": not usable(row, normalised) if portfolio else False,
                "pick": False,
                "note": row.note or (usable(row, normalised) if portfolio else ""),
            }
        )
    variants = pd.DataFrame(records, columns=list(VARIANT_COLUMNS))
    pooled = next(r for r in rows if r.view == primary.name and r.solve == "pooled")
    plain = next(r for r in rows if r.view == primary.name and r.solve == "plain")
    notes = _notes(primary, pooled, normalised, data, skipped)
    if portfolio:
        index, reason = attackers_pick(rows, normalised)
    else:
        index, reason = None, "single variant (portfolio off)"
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
        reliable = True
    else:
        estimate, ci, pick = pooled.estimate, pooled.ci, _variant_name(pooled, primary)
        reliable = False
        ci_method = (
            pooled.ci_method or "no interval"
            if not portfolio
            else f"unreliable ({reason}): no calibrated interval"
        )
        if portfolio:
            ci = None
            notes.append(
                "unreliable: the estimate shown is the informative-group solve without "
                "correction; the weights do not let an attacker pin the weight decay down "
                "by any variant tried"
            )
    mean_dots, wsq, bsq = primary.mean_dots, primary.weight_sq, primary.mean_grad_sq
    inf = primary.informative
    plain_solution = solve_reduced(
        float(wsq.sum()),
        float(mean_dots.sum()),
        float(bsq.sum()),
        n_equations=int(primary.sizes.sum()),
        n_informative=int(primary.nonzero.sum()),
    )
    solution = (
        solve_reduced(
            float(wsq[inf].sum()),
            float(mean_dots[inf].sum()),
            float(bsq[inf].sum()),
            n_equations=int(primary.sizes[inf].sum()),
            n_informative=int(primary.nonzero[inf].sum()),
        )
        if np.any(inf)
        else None
    )
    if solution is not None and solution.relative_residual > 0.5:
        notes.append(
            f"relative residual {solution.relative_residual:.2f}: the loss gradient is mostly "
            "not along the weights, as with SGD stopped short of a stationary point"
        )
    equilibrium = equilibrium_estimate(
        primary.grad_sq_all,
        primary.weight_sq_all,
        primary.numeric | primary.fed,
        confidence=confidence,
        seed=0,
    )
    return WeightDecayEstimate(
        estimate=float(estimate),
        plain_estimate=float(plain.estimate),
        ci=ci,
        groups=frame,
        solution=solution,
        plain_solution=plain_solution,
        n_batches=int(np.sum(primary.batching == 0)),
        n_decayed=int(primary.sizes.sum()),
        n_informative=int(primary.sizes[inf].sum()),
        confidence=confidence,
        ci_method=ci_method,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
        variants=variants,
        pick=pick,
        pick_reason=reason,
        reliable=reliable,
        normalised=normalised,
        equilibrium=equilibrium,
    )


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


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
