"""The estimator core of the attack: solve ``b + A λ = 0`` by least squares.

At learned weights ``w*`` the objective ``L(w) + Σ_k λ_k R_k(w)`` is stationary,
so its gradient ``b + A λ`` (with ``b = ∇L(w*)`` and ``A = [∇R_1(w*), …]``)
is (close to) zero. Every coordinate of the gradient is one linear equation in
the unknown ``λ``; with more equations than unknowns the least-squares solution
``λ̂ = −(AᵀA)⁻¹ Aᵀ b`` is the attacker's estimate (Wang & Gong, IEEE S&P 2018).

Some learners need extra unknowns that are not hyperparameters (the
subgradient weights of hinge-loss points lying exactly on the margin); they are
passed as *nuisance* columns after the hyperparameter columns, solved for and
reported apart.

This module knows nothing about learners or libraries: give it arrays, get back
the estimate and the diagnostics a reviewer needs to trust it. Both attacks
(:mod:`audit.classical`, :mod:`audit.deep`) solve here and measure an
estimate against the truth with :func:`relative_error` and :func:`log10_error`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from audit.errors import NoEquationError, NonFiniteError, ShapeMismatchError

__all__ = [
    "Solution",
    "log10_error",
    "pooled_estimate",
    "relative_error",
    "solve_hyperparameters",
    "solve_reduced",
]


@dataclass(frozen=True)
class Solution:
    """The least-squares solution of ``b + A λ = 0`` and how far to trust it.

    Attributes:
        values: The estimated hyperparameters ``λ̂``, one per named column.
        names: Their names, in column order.
        nuisance: The solved nuisance unknowns (empty when there are none).
        residual_norm: ``‖b + A λ̂‖₂``, zero for an exactly stationary point.
        relative_residual: ``residual_norm / ‖b‖₂``; near zero when the
            equation explains the loss gradient, near one when it does not
            (wrong learner, wrong data, unconverged training).
        condition_number: 2-norm condition number of ``A`` after scaling its
            columns to unit length (1 for a single column). Large values mean
            the hyperparameters are hard to tell apart.
        n_equations: Number of equations (rows of ``A``).
        n_informative: Rows in which ``A`` is not all zero.
        n_unknowns: Number of columns (hyperparameters plus nuisance).
        rank: Numerical rank of the column-scaled ``A``.
    """

    values: np.ndarray
    names: tuple[str, ...]
    nuisance: np.ndarray = field(default_factory=lambda: np.zeros(0))
    residual_norm: float = 0.0
    relative_residual: float = 0.0
    condition_number: float = 1.0
    n_equations: int = 0
    n_informative: int = 0
    n_unknowns: int = 0
    rank: int = 0

    def as_dict(self) -> dict[str, float]:
        """The estimates by name, e.g. ``{"lambda": 0.1}``."""
        return {name: float(v) for name, v in zip(self.names, self.values, strict=True)}

    def diagnostics(self) -> dict[str, Any]:
        """The diagnostics as plain JSON-friendly values."""
        return {
            "residual_norm": float(self.residual_norm),
            "relative_residual": float(self.relative_residual),
            "condition_number": float(self.condition_number),
            "n_equations": int(self.n_equations),
            "n_informative": int(self.n_informative),
            "n_unknowns": int(self.n_unknowns),
            "n_nuisance": len(self.nuisance),
            "rank": int(self.rank),
        }


def solve_hyperparameters(
    b: np.ndarray,
    A: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    n_nuisance: int = 0,
) -> Solution:
    """Solve ``b + A λ = 0`` in the least-squares sense, with diagnostics.

    Args:
        b: Gradient of the loss term at the learned weights, shape ``(m,)``.
        A: Gradients of the regularisers, shape ``(m,)`` for one
            hyperparameter or ``(m, k)`` for ``k`` unknowns. The last
            ``n_nuisance`` columns are nuisance unknowns.
        names: Names of the hyperparameter columns; defaults to ``lambda`` for
            one column and ``lambda_0, lambda_1, …`` for several.
        n_nuisance: How many trailing columns of ``A`` are nuisance unknowns.

    Returns:
        The :class:`Solution`.

    Raises:
        ShapeMismatchError: ``b`` is not a vector or ``A`` has another number of rows.
        NonFiniteError: ``b`` or ``A`` holds NaN or infinity.
        NoEquationError: ``A`` is all zero, or its columns are linearly
            dependent so that the hyperparameters are not identifiable.

    Example:
        >>> import numpy as np
        >>> w = np.array([1.0, -2.0])
        >>> sol = solve_hyperparameters(-0.5 * w, w)  # ∇L = −0.5 w, R = ½‖w‖²
        >>> round(sol.values[0], 12)
        0.5
    """
    b, A, names, n_hyper = _checked_system(b, A, names, n_nuisance)
    n_informative = _count_informative(A[:, :n_hyper])
    scale, singular, rank = _column_scaling(A)
    z, *_ = np.linalg.lstsq(A / scale, -b, rcond=None)
    lam = z / scale
    residual_norm = float(np.linalg.norm(b + A @ lam))
    return Solution(
        values=lam[:n_hyper].copy(),
        names=names,
        nuisance=lam[n_hyper:].copy(),
        residual_norm=residual_norm,
        relative_residual=_relative(residual_norm, float(np.linalg.norm(b))),
        condition_number=float(singular.max() / singular.min()),
        n_equations=int(A.shape[0]),
        n_informative=n_informative,
        n_unknowns=int(A.shape[1]),
        rank=rank,
    )


def solve_reduced(
    ata: float, atb: float, btb: float, *, n_equations: int, n_informative: int
) -> Solution:
    """Solve ``b + a λ = 0`` from its sufficient statistics ``aᵀa``, ``aᵀb``, ``bᵀb``.

    The exact two-row reduction of the system (``[aᵀb/‖a‖, ‖b − proj_a b‖]``
    against ``[‖a‖, 0]``) has the same solution, residual norm and relative
    residual as the full one, with memory independent of the model's size
    (a deep network's ``a`` is its weights).

    Raises:
        NoEquationError: ``aᵀa`` is zero (all-zero weights).
        NonFiniteError: a statistic is NaN or infinite.
    """
    na = math.sqrt(ata) if ata > 0 else 0.0
    along = atb / na if na > 0 else 0.0
    rest = math.sqrt(max(btb - along * along, 0.0)) if math.isfinite(btb) else btb
    solution = solve_hyperparameters(
        np.array([along, rest]), np.array([na, 0.0]), names=("weight_decay",)
    )
    return replace(solution, n_equations=int(n_equations), n_informative=int(n_informative))


def pooled_estimate(mean_dots: np.ndarray, weight_sq: np.ndarray) -> float:
    """``−Σ wᵀb / Σ ‖w‖²``: the least-squares ``λ`` of ``b + λ w = 0`` over the given groups.

    ``mean_dots`` holds ``wᵀ_g b_g`` and ``weight_sq`` ``‖w_g‖²`` per group
    (``nan`` when there are none).
    """
    den = float(np.sum(weight_sq))
    return -float(np.sum(mean_dots)) / den if den > 0 else math.nan


def _checked_system(
    b: Any, A: Any, names: Sequence[str] | None, n_nuisance: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], int]:
    """``b`` and ``A`` as float arrays (``A`` a matrix), the names and the hyperparameter count."""
    b = np.asarray(b, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    if b.ndim != 1:
        raise ShapeMismatchError(
            f"loss gradient b has shape {b.shape}, expected a vector; flatten it before solving"
        )
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2 or A.shape[0] != b.shape[0]:
        raise ShapeMismatchError(
            f"regulariser gradients A have shape {A.shape} but b has {b.shape[0]} rows; "
            "pass one row of A per coordinate of b"
        )
    n_unknowns = A.shape[1]
    n_hyper = n_unknowns - n_nuisance
    if n_nuisance < 0 or n_hyper < 1:
        raise ShapeMismatchError(
            f"A has {n_unknowns} columns but {n_nuisance} are declared nuisance; "
            "at least one column must be a hyperparameter"
        )
    if names is None:
        names = ("lambda",) if n_hyper == 1 else tuple(f"lambda_{i}" for i in range(n_hyper))
    names = tuple(names)
    if len(names) != n_hyper:
        raise ShapeMismatchError(
            f"{len(names)} names given for {n_hyper} hyperparameter columns; give one name each"
        )
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(A))):
        raise NonFiniteError(
            "the stationarity equation holds NaN or infinity; "
            "check the weights and the data for non-finite values"
        )
    return b, A, names, n_hyper


def _count_informative(hyper_columns: np.ndarray) -> int:
    """Rows in which some hyperparameter column is non-zero; refuses a system with none."""
    n_informative = int(np.any(hyper_columns != 0, axis=1).sum())
    if hyper_columns.shape[0] == 0 or n_informative == 0:
        raise NoEquationError(
            "every regulariser gradient is zero (all-zero weights?), "
            "so the weights say nothing about the hyperparameters; nothing to estimate"
        )
    return n_informative


def _column_scaling(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Column norms of ``A``, singular values of the unit-column ``A`` and its rank.

    Raises:
        NoEquationError: A zero column, or a rank below the number of unknowns.
    """
    scale = np.linalg.norm(A, axis=0)
    if np.any(scale == 0):
        raise NoEquationError(
            f"column(s) {np.flatnonzero(scale == 0).tolist()} of A are zero: "
            "those unknowns are not identifiable from these weights"
        )
    As = A / scale
    singular = np.linalg.svd(As, compute_uv=False)
    tol = singular.max() * max(As.shape) * np.finfo(np.float64).eps
    rank = int(np.sum(singular > tol))
    if rank < A.shape[1]:
        raise NoEquationError(
            f"A has rank {rank} for {A.shape[1]} unknowns ({A.shape[0]} equations): "
            "the hyperparameters are not identifiable from these weights"
        )
    return scale, singular, rank


def _relative(residual_norm: float, b_norm: float) -> float:
    """``residual_norm / ‖b‖`` (zero over zero is zero, anything else over zero infinite)."""
    if b_norm > 0:
        return residual_norm / b_norm
    return 0.0 if residual_norm == 0 else math.inf


def relative_error(estimate: float, true: float) -> float:
    """``|estimate − true| / |true|`` (``inf`` for a zero truth with a non-zero estimate)."""
    if true == 0:
        return 0.0 if estimate == 0 else math.inf
    return abs(estimate - true) / abs(true)


def log10_error(estimate: float, true: float) -> float:
    """``|log10(estimate / true)|``: orders of magnitude apart (``inf`` if signs differ)."""
    if estimate <= 0 or true <= 0:
        return 0.0 if estimate == true else math.inf
    ratio = estimate / true
    if ratio == 0 or math.isinf(ratio):  # an infinite value, or a ratio out of float range
        return math.inf
    return abs(math.log10(ratio))
