"""Checks that the attacker's data rows are the model's own training rows."""

from __future__ import annotations

import numpy as np

from audit.errors import ShapeMismatchError


def match_rows(stored: np.ndarray, X: np.ndarray, learner: str, what: str) -> None:
    """Raise unless ``X`` equals the ``stored`` rows (same order, to rounding)."""
    if stored.shape != X.shape:
        raise ShapeMismatchError(
            f"{learner}: the model stores {what} of shape {stored.shape} but the data has "
            f"{X.shape}; pass exactly the training rows, in training order"
        )
    scale = max(1.0, float(np.max(np.abs(stored))) if stored.size else 1.0)
    gap = float(np.max(np.abs(stored - X))) if stored.size else 0.0
    if gap > 1e-6 * scale:
        raise ShapeMismatchError(
            f"{learner}: the data rows differ from the model's stored {what} "
            f"(max difference {gap:.3g}); pass exactly the training rows, in training order"
        )
