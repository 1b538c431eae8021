"""The least-squares core: exact recovery, diagnostics, and every refusal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import NoEquationError, NonFiniteError, ShapeMismatchError
from audit.estimator import solve_hyperparameters


def test_one_hyperparameter_is_minus_atb_over_ata() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=20)
    b = -0.37 * a + 1e-3 * rng.normal(size=20)
    sol = solve_hyperparameters(b, a)
    assert sol.names == ("lambda",)
    assert sol.values[0] == pytest.approx(-(a @ b) / (a @ a), rel=1e-12)
    assert sol.n_equations == 20 and sol.n_unknowns == 1 and sol.rank == 1
    assert sol.condition_number == 1.0
    assert 0 < sol.relative_residual < 1e-2


def test_two_hyperparameters_are_recovered_exactly() -> None:
    rng = np.random.default_rng(1)
    A = rng.normal(size=(30, 2))
    lam = np.array([0.2, 5.0])
    sol = solve_hyperparameters(-A @ lam, A, names=["l1", "l2"])
    np.testing.assert_allclose(sol.values, lam, rtol=1e-12)
    assert sol.as_dict() == pytest.approx({"l1": 0.2, "l2": 5.0})
    assert sol.residual_norm < 1e-12


def test_nuisance_columns_are_solved_apart() -> None:
    rng = np.random.default_rng(2)
    a, n1 = rng.normal(size=10), rng.normal(size=10)
    b = -(3.0 * a + 0.5 * n1)
    sol = solve_hyperparameters(b, np.column_stack([a, n1]), n_nuisance=1)
    assert sol.values == pytest.approx([3.0])
    assert sol.nuisance == pytest.approx([0.5])
    assert sol.diagnostics()["n_nuisance"] == 1


def test_rows_without_regulariser_only_add_to_the_residual() -> None:
    a = np.array([1.0, 2.0, 0.0])
    b = np.array([-1.0, -2.0, 0.5])
    sol = solve_hyperparameters(b, a)
    assert sol.values[0] == pytest.approx(1.0)
    assert sol.n_informative == 2
    assert sol.residual_norm == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(
    lam=st.floats(1e-6, 1e6),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 50),
)
def test_any_exact_equation_is_solved_to_rounding(lam: float, seed: int, n: int) -> None:
    a = np.random.default_rng(seed).normal(size=n)
    if not np.any(a):
        return
    sol = solve_hyperparameters(-lam * a, a)
    assert sol.values[0] == pytest.approx(lam, rel=1e-12)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ShapeMismatchError, match="rows"):
        solve_hyperparameters(np.ones(3), np.ones(4))
    with pytest.raises(ShapeMismatchError, match="vector"):
        solve_hyperparameters(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ShapeMismatchError, match="names"):
        solve_hyperparameters(np.ones(3), np.ones((3, 2)), names=["only_one"])
    with pytest.raises(ShapeMismatchError, match="nuisance"):
        solve_hyperparameters(np.ones(3), np.ones((3, 1)), n_nuisance=1)


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(NonFiniteError, match="NaN"):
        solve_hyperparameters(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(NonFiniteError):
        solve_hyperparameters(np.ones(2), np.array([1.0, np.inf]))


def test_all_zero_regulariser_means_no_equation() -> None:
    with pytest.raises(NoEquationError, match="all-zero weights"):
        solve_hyperparameters(np.ones(4), np.zeros(4))
    with pytest.raises(NoEquationError):
        solve_hyperparameters(np.zeros(0), np.zeros(0))


def test_dependent_columns_are_not_identifiable() -> None:
    a = np.arange(1.0, 6.0)
    with pytest.raises(NoEquationError, match="rank 1"):
        solve_hyperparameters(-a, np.column_stack([a, 2 * a]))
    with pytest.raises(NoEquationError, match="not identifiable"):
        solve_hyperparameters(-a, np.column_stack([a, np.zeros(5)]))


def test_errors_are_one_line() -> None:
    with pytest.raises(NoEquationError) as info:
        solve_hyperparameters(np.ones(4), np.zeros(4))
    assert "\n" not in str(info.value)
