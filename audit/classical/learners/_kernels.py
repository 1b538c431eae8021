"""Kernel matrices exactly as scikit-learn's kernel estimators compute them."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.classical.learners.base import Coefficients, check_data, float_array, optional_float
from audit.errors import ShapeMismatchError, UnsupportedModelError

KERNELS = ("linear", "rbf", "poly", "polynomial", "sigmoid", "laplacian", "chi2", "cosine")


def kernel_settings(estimator: Any, gamma: Any = None) -> dict[str, Any]:
    """The kernel name and its parameters from a fitted estimator (``gamma`` as resolved)."""
    kernel = estimator.kernel
    if callable(kernel) or kernel not in KERNELS:
        raise UnsupportedModelError(
            f"{type(estimator).__name__} with kernel {kernel!r}: only the named kernels "
            f"{', '.join(KERNELS)} can be recomputed from a file; refit with one of them"
        )
    if getattr(estimator, "kernel_params", None):
        raise UnsupportedModelError(
            f"{type(estimator).__name__} with kernel_params: not audited; "
            "pass gamma, degree and coef0 directly instead"
        )
    return {
        "kernel": kernel,
        "gamma": estimator.gamma if gamma is None else gamma,
        "degree": float(estimator.degree),
        "coef0": float(estimator.coef0),
    }


def dual_coef_and_data(
    coefs: Coefficients, X: Any, y: Any, learner: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dual coefficients and the checked data, which must be the training rows (one each)."""
    dual = float_array(coefs, "dual_coef", learner, ndim=1)
    X, y = check_data(X, y, learner)
    if dual.shape[0] != X.shape[0]:
        raise ShapeMismatchError(
            f"{learner}: {dual.shape[0]} dual coefficients but {X.shape[0]} data rows; "
            "pass exactly the training rows"
        )
    return dual, X, y


def kernel_matrix(coefs: Coefficients, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``K(X, Y)`` with the kernel and parameters stored in ``coefs``."""
    from sklearn.metrics.pairwise import pairwise_kernels

    kernel = str(coefs.get("kernel", "linear"))
    if kernel not in KERNELS:
        raise UnsupportedModelError(
            f"kernel {kernel!r} is not one the audit can recompute; use one of {', '.join(KERNELS)}"
        )
    params = {
        "gamma": None if coefs.get("gamma") is None else optional_float(coefs, "gamma", 0.0),
        "degree": optional_float(coefs, "degree", 3.0),
        "coef0": optional_float(coefs, "coef0", 1.0),
    }
    return pairwise_kernels(X, Y, metric=kernel, filter_params=True, **params)
