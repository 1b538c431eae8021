"""Scale invariance: which parameter groups the weight-decay equation cannot use.

A module whose output goes into a normalisation layer computed on the current
batch (BatchNorm in train mode, GroupNorm, LayerNorm) gives the same loss when
its parameters ``w`` are multiplied by any ``c > 0``. Differentiating
``L(c w)`` at ``c = 1`` (Euler's theorem) gives

    wᵀ ∇L(w) = 0        for every batch, exactly,

so such a group's loss gradient has no component along ``w``, while weight
decay's gradient *is* ``λ w``: the group's equation ``∇L + λ w = 0`` has no
solution with ``λ > 0`` and its least-squares estimate is ~0 whatever ``λ``
was (Zhang et al. 2018, "Three Mechanisms of Weight Decay Regularization").
Left in, such groups drag the paper's estimate toward zero.

The numerical test: every batch gradient ``g_j`` of an invariant group is
orthogonal to ``w``, so is every running sum ``G_i = g_1 + … + g_i``, and a
group is scale-invariant when

    max over i of  |wᵀ G_i| / (‖w‖ ‖G_i‖)  ≤  tol

with ``w`` and ``G_i`` over *all* of the module's trainable parameters (a
conv's bias takes part in its scale invariance even when it is not decayed).
A group near a stationary point has ``|cos|`` near one for the full sum; far
from one (a freshly initialised or barely trained network) its gradient can be
nearly as unrelated to ``w`` as a random direction, ``|cos| ≈ 1/√n`` for ``n``
parameters (1.4e-3 for a 512k-weight FPN conv of ResNet-50 FCOS). Floating-point
error in float32 gradients stays near ``1e-6`` (measured up to 3e-6 on
590k-weight convs). The threshold is therefore ``min(tol, 0.1/√n)``: the default
``tol = 1e-3`` for layers up to 10k weights, 1e-4 at a million.

The architectural test (:func:`audit.deep.groups.norm_probe`) flags modules
whose output goes straight into a norm layer that normalises by the batch.
Such a layer is invariant only up to the norm's ``eps``: once weight decay has
shrunk its weights until the pre-norm variance nears ``eps``, the numerical
test sees ``|cos|`` of 1e-3…1e-1. Its equation then reflects ``eps``, not the
loss, so the audit treats it as scale-invariant either way and says so.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_TOL", "invariance_statistic", "is_scale_invariant", "threshold"]

#: Default threshold on the largest per-batch ``|cos(w, g_i)|``.
DEFAULT_TOL = 1e-3


def invariance_statistic(
    dots: np.ndarray, grad_sq: np.ndarray, weight_sq: np.ndarray
) -> np.ndarray:
    """Largest ``|cos(w, G_i)|`` over the running gradient sums of each group.

    Args:
        dots: ``wᵀ G_i`` per batch and group, shape ``(batches, groups)``.
        grad_sq: ``‖G_i‖²`` per batch and group, same shape.
        weight_sq: ``‖w‖²`` per group, shape ``(groups,)``.

    Returns:
        One value per group; ``nan`` for a group that never had a non-zero
        gradient (or has all-zero weights).
    """
    dots = np.asarray(dots, dtype=np.float64)
    grad_sq = np.asarray(grad_sq, dtype=np.float64)
    denom = np.sqrt(np.clip(grad_sq, 0.0, None) * np.asarray(weight_sq, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(denom > 0, np.abs(dots) / np.where(denom > 0, denom, 1.0), np.nan)
    seen = np.any(np.isfinite(cos), axis=0)
    out = np.full(cos.shape[1], np.nan)
    if np.any(seen):
        out[seen] = np.nanmax(cos[:, seen], axis=0)
    return out


def threshold(sizes: np.ndarray, tol: float = DEFAULT_TOL) -> np.ndarray:
    """The per-group threshold ``min(tol, 0.1/√n)`` for groups of ``n`` parameters."""
    sizes = np.maximum(np.asarray(sizes, dtype=np.float64), 1.0)
    return np.minimum(tol, 0.1 / np.sqrt(sizes))


def is_scale_invariant(
    statistic: np.ndarray, sizes: np.ndarray, tol: float = DEFAULT_TOL
) -> np.ndarray:
    """``statistic ≤ min(tol, 0.1/√n)`` per group (``False`` where it is ``nan``)."""
    statistic = np.asarray(statistic, dtype=np.float64)
    limit = threshold(sizes, tol)
    return np.where(np.isfinite(statistic), statistic <= limit, False)
