"""Fixtures for the audit tests: small standardised datasets and file writers."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audit.classical.datasets import Dataset, load_dataset


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """Small problems: BLAS threads only add contention on a shared machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for tests that train or attack small networks (a shared machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    """Diabetes, standardised (331 training rows, 10 features)."""
    return load_dataset("diabetes")


@pytest.fixture(scope="session")
def cancer() -> Dataset:
    """Breast cancer, standardised (426 training rows, 30 features, two classes)."""
    return load_dataset("breast_cancer")


@pytest.fixture(scope="session")
def iris2() -> Dataset:
    """Iris versicolor vs virginica (75 training rows, 4 features)."""
    return load_dataset("iris2")


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """Digits, ten classes, 400 training rows to stay fast."""
    return load_dataset("digits", max_train=400)


@pytest.fixture(scope="session")
def digits_binary() -> Dataset:
    """Digits even vs odd, 300 training rows."""
    return load_dataset("digits_binary", max_train=300)


def _fit(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


@pytest.fixture
def fit() -> Callable[[Any, np.ndarray, np.ndarray], Any]:
    """``fit(estimator, X, y)`` without convergence warnings reaching the output."""
    return _fit


@pytest.fixture
def write_data(tmp_path: Path) -> Callable[..., Path]:
    """Write features and a target to CSV or Parquet; return the path."""

    def _write(
        X: np.ndarray,
        y: np.ndarray,
        name: str = "train.csv",
        target: str = "target",
        columns: list[str] | None = None,
    ) -> Path:
        cols = columns or [f"x{i}" for i in range(X.shape[1])]
        frame = pd.DataFrame(X, columns=cols)
        frame[target] = y
        path = tmp_path / name
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        return path

    return _write
