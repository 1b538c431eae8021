"""From gradient passes to the portfolio's estimates: which groups count, and four solves.

A *view* is what one kind of pass saw: ``train`` (train mode at training's
batch size, its random batchings stacked), ``full`` (train mode, the whole set
as one batch) or ``eval`` (eval mode: BatchNorm applies its running
statistics). Per view, each decayed parameter group ``g`` gives the numbers the
equation ``∇L + wd·w = 0`` needs: per-batch ``wᵀ_g g_i``, ``‖w_g‖²``, and
whether the group carries signal (:mod:`audit.deep.scale`). Four solves:

``pooled``
    least squares over the informative groups, ``−Σ wᵀb / Σ ‖w‖²``;
``plain``
    the paper's, over every decayed group;
``best-group``
    the informative group whose mean gradient lies most nearly along ``−w``
    (cosine closest to −1): the layer nearest its own stationary point;
``balanced``
    ``pooled`` with each group corrected for a *free partner*: a normalisation
    layer whose affine scale and shift are not decayed and whose output
    reaches the group through a positively homogeneous activation (ReLU).
    Scaling the partner by ``c`` and the group's weights by ``1/c`` leaves
    every output unchanged, so the loss alone cannot settle the split, and
    weight decay keeps moving weight from the group into the partner. Training
    settles the product of the two scales, not each: with ``x = ‖w_g‖²``,
    ``z = ‖partner‖²`` (``z_d`` of it decayed) and ``D = wᵀ_g b_g``, the
    stationary condition along that product is
    ``wd = −D (1/x + 1/z) / (1 + z_d/z)``, where the plain equation reads
    ``wd = −D/x`` and runs low by ``z/(x+z)``. Partners are found numerically:
    the symmetry makes the partner's ``θᵀg_i`` equal the group's ``wᵀg_i`` on
    every batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from audit.deep.combine import bootstrap_interval
from audit.deep.gradients import PassStats
from audit.deep.scale import invariance_statistic, is_scale_invariant
from audit.estimator import pooled_estimate

__all__ = ["SOLVES", "VariantRow", "View", "solve_view", "view_of"]

#: The solves every view gives, in order.
SOLVES = ("pooled", "balanced", "best-group", "plain")

#: Relative tolerance of the partner test (float32 gradients agree to ~1e-6).
_PARTNER_TOL = 1e-3


@dataclass
class View:
    """One kind of pass, reduced to per-group numbers (decayed groups only).

    Attributes:
        name: ``train``, ``full`` or ``eval``.
        dots: Per-batch ``wᵀ_g g_i`` of the decayed parameters, ``(batches, groups)``.
        batching: Which batching each row came from.
        weight_sq: ``‖w_g‖²`` (decayed).
        mean_grad_sq: ``‖b_g‖²`` of the mean gradient (decayed), mean over batchings.
        sizes: Decayed scalars per group.
        nonzero: Non-zero decayed scalars per group.
        invariance: Largest ``|cos(w, G_i)|`` over all of the module's parameters.
        numeric: Scale-invariant by the numerical test.
        fed: Output seen going straight into a batch-normalising layer.
        unused: No loss gradient at all.
        informative: Carries signal (none of the above, non-zero weights).
        correction: The free-partner factor of ``balanced`` (1 without a partner).
        partner: The partner's module path, or ``""``.
        n_batchings: Batchings stacked in ``dots``.
        grad_sq_all: Per-batch ``‖g_i‖²`` over all of each group's parameters.
        weight_sq_all: ``‖w‖²`` over all of each group's parameters.
    """

    name: str
    dots: np.ndarray
    batching: np.ndarray
    weight_sq: np.ndarray
    mean_grad_sq: np.ndarray
    sizes: np.ndarray
    nonzero: np.ndarray
    invariance: np.ndarray
    numeric: np.ndarray
    fed: np.ndarray
    unused: np.ndarray
    informative: np.ndarray
    correction: np.ndarray
    partner: list[str] = field(default_factory=list)
    n_batchings: int = 1
    grad_sq_all: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    weight_sq_all: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def mean_dots(self) -> np.ndarray:
        """``wᵀ_g b_g`` per group: the mean over every batch of every batching."""
        return self.dots.mean(axis=0)


@dataclass(frozen=True)
class VariantRow:
    """One variant's estimate and bootstrap interval."""

    view: str
    solve: str
    estimate: float
    ci: tuple[float, float] | None
    ci_method: str
    spread: float
    groups: int
    cosine: float = math.nan
    note: str = ""


def _sum_by_group(values: np.ndarray, group_of: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((*values.shape[:-1], n))
    for gi in range(n):
        sel = (group_of == gi) & mask
        out[..., gi] = values[..., sel].sum(axis=-1)
    return out


def view_of(
    name: str,
    passes: list[PassStats],
    names: list[str],
    has_decayed: np.ndarray,
    tol: float,
) -> View:
    """Merge the passes of one view (their batches stacked) into per-group numbers.

    Args:
        name: The view's name.
        passes: One :class:`PassStats` per batching, over the same groups.
        names: Every group's module path (decayed groups and partner candidates).
        has_decayed: Which of those groups hold decayed parameters.
        tol: Threshold of the scale-invariance test.
    """
    n = len(names)
    first = passes[0]
    dec, every = first.is_decayed, np.ones_like(first.is_decayed)
    dots = np.vstack([_sum_by_group(p.dots, p.group_of, dec, n) for p in passes])
    batching = np.concatenate([np.full(p.n_batches, k) for k, p in enumerate(passes)])
    weight_sq = _sum_by_group(first.weight_sq, first.group_of, dec, n)
    mean_sq = np.mean(
        [_sum_by_group(p.run_sq[-1], p.group_of, dec, n) / p.n_batches**2 for p in passes], axis=0
    )
    sizes = _sum_by_group(first.sizes.astype(float), first.group_of, dec, n).astype(int)
    nonzero = _sum_by_group(first.nonzero.astype(float), first.group_of, dec, n).astype(int)
    a_wsq = _sum_by_group(first.weight_sq, first.group_of, every, n)
    a_size = _sum_by_group(first.sizes.astype(float), first.group_of, every, n)
    invariance = (
        np.nanmax(
            np.vstack(
                [
                    invariance_statistic(
                        _sum_by_group(p.run_dots, p.group_of, every, n),
                        _sum_by_group(p.run_sq, p.group_of, every, n),
                        a_wsq,
                    )
                    for p in passes
                ]
            ),
            axis=0,
        )
        if any(p.n_batches for p in passes)
        else np.full(n, np.nan)
    )
    numeric = is_scale_invariant(invariance, a_size, tol)
    fed = np.array([any(p.fed_norm.get(g, False) for p in passes) for g in names], dtype=bool)
    a_gsq = np.vstack([_sum_by_group(p.run_sq, p.group_of, every, n) for p in passes])
    unused = ~np.any(a_gsq > 0, axis=0)
    informative = has_decayed & ~numeric & ~fed & ~unused & (weight_sq > 0)
    correction, partner = _partners(passes, names, has_decayed, informative, dots, weight_sq, a_wsq)
    g_all = np.vstack([_sum_by_group(p.grad_sq, p.group_of, every, n) for p in passes])
    keep = np.flatnonzero(has_decayed)
    return View(
        name=name,
        dots=dots[:, keep],
        batching=batching,
        weight_sq=weight_sq[keep],
        mean_grad_sq=mean_sq[keep],
        sizes=sizes[keep],
        nonzero=nonzero[keep],
        invariance=invariance[keep],
        numeric=numeric[keep],
        fed=fed[keep],
        unused=unused[keep],
        informative=informative[keep],
        correction=correction[keep],
        partner=[partner[i] for i in keep],
        n_batchings=len(passes),
        grad_sq_all=g_all[:, keep],
        weight_sq_all=a_wsq[keep],
    )


def _partners(
    passes: list[PassStats],
    names: list[str],
    has_decayed: np.ndarray,
    informative: np.ndarray,
    group_dots: np.ndarray,
    x: np.ndarray,
    z_all: np.ndarray,
) -> tuple[np.ndarray, list[str]]:
    """The free-partner factor ``1 + x/z`` of each informative group.

    A group without decayed parameters (a norm layer's affine, by default) is
    the free partner of the informative groups whose per-batch ``wᵀg_i`` add
    up to its own ``θᵀg_i`` on every batch (one consumer, or two sharing it).
    ``group_dots`` are the decayed per-batch dots, ``x`` the decayed and
    ``z_all`` the whole squared norms, per group.
    """
    n = len(names)
    correction = np.ones(n)
    partner = [""] * n
    every = np.ones_like(passes[0].is_decayed)
    all_dots = np.vstack([_sum_by_group(p.dots, p.group_of, every, n) for p in passes])
    candidates = [j for j in range(n) if not has_decayed[j] and z_all[j] > 0]
    consumers = [g for g in range(n) if informative[g]]
    taken: set[int] = set()
    for j in candidates:
        target = all_dots[:, j]
        scale = np.max(np.abs(target))
        if not scale > 0:
            continue
        match: tuple[int, ...] | None = None
        for g in consumers:
            if g not in taken and _agrees(group_dots[:, g], target, scale):
                match = (g,)
                break
        if match is None:
            pairs = [(a, b) for i, a in enumerate(consumers) for b in consumers[i + 1 :]]
            for a, b in pairs:
                if a in taken or b in taken:
                    continue
                if _agrees(group_dots[:, a] + group_dots[:, b], target, scale):
                    match = (a, b)
                    break
        if match is None:
            continue
        xs = float(sum(x[g] for g in match))
        z = float(z_all[j])
        for g in match:
            correction[g] = 1.0 + xs / z
            partner[g] = names[j]
            taken.add(g)
    return correction, partner


def _agrees(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    return bool(np.max(np.abs(a - b)) <= _PARTNER_TOL * scale)


def solve_view(view: View, *, confidence: float, n_bootstrap: int, seed: int) -> list[VariantRow]:
    """The four solves of one view, each with its bootstrap interval and batching spread."""
    rows = []
    informative = view.informative
    has_weights = view.weight_sq > 0
    best = _best_group(view)
    for solve in SOLVES:
        if solve == "plain":
            mask, scale = has_weights, np.ones_like(view.weight_sq)
        elif solve == "best-group":
            mask = np.zeros_like(informative)
            if best is not None:
                mask[best] = True
            scale = np.ones_like(view.weight_sq)
        else:
            mask = informative
            scale = view.correction if solve == "balanced" else np.ones_like(view.weight_sq)
        if solve == "balanced" and not np.any(view.correction[informative] != 1.0):
            rows.append(
                VariantRow(
                    view.name,
                    solve,
                    math.nan,
                    None,
                    "",
                    math.nan,
                    0,
                    note="no free partner found: same as pooled",
                )
            )
            continue
        if not np.any(mask):
            rows.append(
                VariantRow(
                    view.name, solve, math.nan, None, "", math.nan, 0, note="no informative group"
                )
            )
            continue
        dots = view.dots[:, mask] * scale[mask]
        wsq = view.weight_sq[mask]
        estimate = pooled_estimate(dots.mean(axis=0), wsq)
        bsq = float((view.mean_grad_sq[mask] * scale[mask] ** 2).sum())
        cosine = (
            float(dots.mean(axis=0).sum()) / math.sqrt(float(wsq.sum()) * bsq)
            if bsq > 0
            else math.nan
        )
        ci, method = bootstrap_interval(
            dots,
            wsq,
            confidence=confidence,
            n_resamples=n_bootstrap,
            seed=seed,
            resample_groups=solve != "plain",
        )
        rows.append(
            VariantRow(
                view.name,
                solve,
                estimate,
                ci,
                method,
                _spread(dots, wsq, view.batching, view.n_batchings),
                int(mask.sum()),
                cosine,
            )
        )
    return rows


def _best_group(view: View) -> int | None:
    """The informative group whose mean gradient is most nearly along ``−w``."""
    idx = np.flatnonzero(view.informative & (view.mean_grad_sq > 0))
    if idx.size == 0:
        return None
    cosine = view.mean_dots[idx] / np.sqrt(view.weight_sq[idx] * view.mean_grad_sq[idx])
    return int(idx[int(np.argmin(cosine))])


def _spread(dots: np.ndarray, wsq: np.ndarray, batching: np.ndarray, k: int) -> float:
    """Largest relative difference between the estimates of single batchings (``nan`` for one)."""
    if k < 2:
        return math.nan
    per = [-float(dots[batching == b].mean(axis=0).sum()) / float(wsq.sum()) for b in range(k)]
    mid = abs(float(np.mean(per)))
    return (max(per) - min(per)) / mid if mid > 0 else math.inf
