"""The paper's experiments on datasets that ship with scikit-learn (no download).

* ``diabetes``: 442 × 10, regression.
* ``iris2``: iris restricted to versicolor vs virginica, 100 × 4 (not separable).
* ``breast_cancer``: 569 × 30, two classes.
* ``digits``: 1797 × 64, ten classes.
* ``digits_binary``: digits as even versus odd, for two-class-only learners.

Features are standardised with the training split's mean and deviation (and
the regression target too), so that hyperparameters mean the same across
datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.errors import AuditOptionError

__all__ = ["DATASETS", "Dataset", "load_dataset"]

DATASETS: dict[str, str] = {
    "diabetes": "regression",
    "iris2": "classification",
    "breast_cancer": "classification",
    "digits": "classification",
    "digits_binary": "classification",
}
"""Dataset name → task."""


@dataclass(frozen=True)
class Dataset:
    """A standardised train/test split."""

    name: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return 0 if self.task == "regression" else len(np.unique(self.y_train))


def _raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    if name == "iris2":
        X, y = datasets.load_iris(return_X_y=True)
        keep = y > 0
        return X[keep], y[keep]
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    X, y = datasets.load_digits(return_X_y=True)
    return (X, y % 2) if name == "digits_binary" else (X, y)


def load_dataset(
    name: str, *, seed: int = 0, test_size: float = 0.25, max_train: int | None = None
) -> Dataset:
    """A standardised split of a bundled dataset.

    Args:
        name: One of :data:`DATASETS`.
        seed: Seed of the split and of the subsample.
        test_size: Fraction held out for testing.
        max_train: Keep at most this many training rows (kernel learners scale
            as n³); ``None`` keeps them all.

    Raises:
        AuditOptionError: Unknown dataset name.
    """
    if name not in DATASETS:
        raise AuditOptionError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}")
    from sklearn.model_selection import train_test_split

    X, y = _raw(name)
    task = DATASETS[name]
    stratify = y if task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=stratify
    )
    if max_train is not None and len(y_tr) > max_train:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(y_tr), size=max_train, replace=False))
        X_tr, y_tr = X_tr[keep], y_tr[keep]
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0] = 1.0
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    if task == "regression":
        y_mean, y_std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - y_mean) / y_std, (y_te - y_mean) / y_std
    return Dataset(name, task, X_tr, y_tr, X_te, y_te)
