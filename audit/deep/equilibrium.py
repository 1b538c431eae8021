"""The second channel: what the norms of scale-invariant groups say about ``wd / lr``.

A group feeding a normalisation layer is scale-invariant: its loss gradient
``g`` is orthogonal to its weights ``w`` and shrinks as ``1/‖w‖``. Weight
decay carries no signal through ``∇L + wd·w = 0`` there (the first channel,
:mod:`audit.deep.variants`), but it sets the weights' norm: one SGD step
shrinks ``‖w‖²`` by ``2·lr·wd·‖w‖²`` and the orthogonal gradient grows it by
``lr²·‖g‖²``, so at equilibrium (Zhang et al. 2018, "Three Mechanisms of
Weight Decay Regularization"; with momentum ``m`` the step is ``lr/(1−m)``)

    ‖g_B‖² / (2‖w‖²)  =  wd · (1 − m) / lr  =  wd / lr_eff,

with ``g_B`` the gradient of one batch at training's batch size. Released
weights and data give the left side; an attacker who knows the learning rate
learns the weight decay, and one who knows the weight decay learns the
learning rate. The norm reaches its equilibrium only after about
``1/(lr_eff·wd)`` steps, so short schedules and small decays leave it above
equilibrium and the estimate low; ``benchmarks/audit_calibration.py``
measures how far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["EquilibriumEstimate", "equilibrium_estimate"]


@dataclass(frozen=True)
class EquilibriumEstimate:
    """``wd / lr_eff`` from the scale-invariant groups (``lr_eff = lr / (1 − momentum)``).

    Attributes:
        estimate: Pooled ``Σ mean ‖g_i‖² / (2 Σ ‖w‖²)`` over the groups (``nan``
            without a scale-invariant group).
        ci: Percentile bootstrap interval over batches (``None`` with one batch).
        groups: Scale-invariant groups used.
    """

    estimate: float
    ci: tuple[float, float] | None
    groups: int

    def truth(self, weight_decay: float, lr: float, momentum: float) -> float:
        """The value this estimates, for a recipe."""
        return weight_decay * (1.0 - momentum) / lr


def equilibrium_estimate(
    grad_sq: np.ndarray,
    weight_sq: np.ndarray,
    invariant: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> EquilibriumEstimate:
    """Pool the scale-invariant groups' ``‖g_i‖²`` against their ``‖w‖²``.

    Args:
        grad_sq: ``‖g_i‖²`` per batch and group (all of each group's
            parameters), shape ``(batches, groups)``.
        weight_sq: ``‖w‖²`` per group (all parameters).
        invariant: Which groups are scale-invariant.
        confidence: Coverage of the interval.
        n_resamples: Bootstrap replicates.
        seed: Seed of the bootstrap.
    """
    use = np.asarray(invariant, dtype=bool) & (np.asarray(weight_sq) > 0)
    if not np.any(use):
        return EquilibriumEstimate(math.nan, None, 0)
    per_batch = np.asarray(grad_sq, dtype=np.float64)[:, use].sum(axis=1)
    den = 2.0 * float(np.sum(np.asarray(weight_sq, dtype=np.float64)[use]))
    estimate = float(per_batch.mean()) / den
    ci = None
    n = per_batch.size
    if n > 1:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples) @ per_batch / n / den
        tail = (1.0 - confidence) / 2.0
        lo, hi = np.quantile(draws, [tail, 1.0 - tail])
        ci = (float(lo), float(hi))
    return EquilibriumEstimate(estimate, ci, int(use.sum()))
