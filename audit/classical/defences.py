"""Defences against the attack: perturb the released weights, then price the cost.

Wang & Gong's defence rounds the weights to ``k`` decimals before release;
Gaussian noise of a relative scale is the other obvious knob. Both act only on
the learner's weight entries (never on stored training rows such as
``X_fit``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.classical.learners import Learner, get_learner
from audit.classical.learners.base import Coefficients
from audit.errors import AuditOptionError

__all__ = ["add_noise", "round_weights"]


def round_weights(learner: str | Learner, coefs: Coefficients, decimals: int) -> dict[str, Any]:
    """A copy of ``coefs`` with every weight rounded to ``decimals`` decimal places."""
    if int(decimals) != decimals or decimals < 0:
        raise AuditOptionError(f"cannot round to {decimals} decimals; give an integer >= 0")
    lrn = get_learner(learner)
    out = dict(coefs)
    for key in lrn.weights(coefs):
        out[key] = np.round(np.asarray(coefs[key], dtype=np.float64), int(decimals))
    return out


def add_noise(
    learner: str | Learner, coefs: Coefficients, sigma: float, *, seed: int = 0
) -> dict[str, Any]:
    """A copy of ``coefs`` with Gaussian noise of relative scale ``sigma`` on each weight array.

    Each array ``w`` gets ``sigma · rms(w) · N(0, 1)`` added element-wise.
    """
    if not np.isfinite(sigma) or sigma < 0:
        raise AuditOptionError(f"noise scale {sigma} is not a finite number >= 0")
    lrn = get_learner(learner)
    rng = np.random.default_rng(seed)
    out = dict(coefs)
    for key in lrn.weights(coefs):
        w = np.asarray(coefs[key], dtype=np.float64)
        rms = float(np.sqrt(np.mean(w**2))) if w.size else 0.0
        out[key] = w + sigma * rms * rng.standard_normal(w.shape)
    return out
