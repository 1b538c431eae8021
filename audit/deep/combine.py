"""The combined estimator over parameter groups and its confidence interval.

With ``R = ½‖w‖²`` the equation of the decayed coordinates is ``b + λ w = 0``
(``b`` the mean loss gradient over the known batches). Its least-squares
solution over a set of groups is

    λ̂ = −Σ_g wᵀ_g b_g / Σ_g ‖w_g‖²,

so everything the estimator needs is, per group, ``‖w_g‖²`` and the per-batch
dot products ``wᵀ_g g_{i,g}`` (``wᵀ_g b_g`` is their mean). The solve itself is
:func:`audit.estimator.pooled_estimate`, with its diagnostics from
:func:`audit.estimator.solve_reduced`.

The interval resamples what the estimate depends on: batches (the data the
attacker happened to know) and informative groups (layers disagree when
training has not reached a stationary point). Each replicate redraws both
with replacement and recomputes the pooled estimate; the interval is the
percentile interval of the replicates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_interval"]

_CHUNK = 256


def bootstrap_interval(
    dots: np.ndarray,
    weight_sq: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    resample_groups: bool = True,
) -> tuple[tuple[float, float] | None, str]:
    """Percentile interval of the pooled estimate, resampling batches and groups.

    Args:
        dots: ``wᵀ_g g_{i,g}`` per batch ``i`` and informative group ``g``,
            shape ``(batches, groups)``.
        weight_sq: ``‖w_g‖²`` per group.
        confidence: Coverage of the interval.
        n_resamples: Bootstrap replicates.
        seed: Seed of the resampling.
        resample_groups: Redraw the groups too (``False``: batches only, as for
            the paper's estimate over every group).

    Returns:
        ``((lo, hi), method)``, or ``(None, reason)`` when there is nothing to
        resample (one batch and one group) or no group at all.
    """
    dots = np.asarray(dots, dtype=np.float64)
    weight_sq = np.asarray(weight_sq, dtype=np.float64)
    n_batches, n_groups = dots.shape
    if n_groups == 0:
        return None, "no informative group, no interval"
    if not resample_groups and n_groups > 1:
        dots, weight_sq = dots.sum(axis=1, keepdims=True), weight_sq.sum(keepdims=True)
        n_groups = 1
    if n_batches < 2 and n_groups < 2:
        return None, "one batch and one group: nothing to resample, no interval"
    rng = np.random.default_rng(seed)
    estimates: list[np.ndarray] = []
    done = 0
    while done < n_resamples:
        size = min(_CHUNK, n_resamples - done)
        if n_batches > 1:
            batch_w = rng.multinomial(n_batches, np.full(n_batches, 1.0 / n_batches), size=size)
            means = batch_w @ dots / n_batches
        else:
            means = np.repeat(dots.mean(axis=0, keepdims=True), size, axis=0)
        if n_groups > 1:
            group_w = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=size)
        else:
            group_w = np.ones((size, 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            estimates.append(-(group_w * means).sum(axis=1) / (group_w * weight_sq).sum(axis=1))
        done += size
    values = np.concatenate(estimates)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, "every bootstrap replicate was undefined, no interval"
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    over = " and ".join(
        what for what, n in (("batches", n_batches), ("informative groups", n_groups)) if n > 1
    )
    return (float(lo), float(hi)), (
        f"{confidence:.0%} percentile bootstrap over {over} ({n_resamples} resamples)"
    )
