"""Safe loading: skops with a trusted list, npz without pickle, JSON; data files."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from audit.classical.datasets import Dataset
from audit.classical.io import load_data, load_model, save_coefficients
from audit.classical.learners import get_learner
from audit.classical.sklearn_audit import audit_sklearn
from audit.classical.steal import steal_hyperparameters
from audit.errors import (
    DataFileError,
    ModelFileError,
    NonFiniteError,
    ShapeMismatchError,
    UnknownLearnerError,
    UnsafeModelError,
)


class _Payload:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


class Sneaky(BaseEstimator):
    """An estimator type no allow-list knows."""

    def __init__(self, x: int = 1) -> None:
        self.x = x


def test_pickle_files_are_refused_unopened(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for name in ("model.pkl", "model.joblib", "model.pickle"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(_Payload(marker)))
        with pytest.raises(UnsafeModelError, match="pickle"):
            load_model(path)
    assert not marker.exists()


def test_a_pickle_renamed_to_skops_or_npz_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for name in ("model.skops", "model.npz", "model.json"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(_Payload(marker)))
        with pytest.raises(UnsafeModelError, match="pickle stream"):
            load_model(path)
    assert not marker.exists()


def test_npz_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "coefs.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    np.savez(path, coef=payload, learner=np.array("ridge"))
    with pytest.raises(UnsafeModelError, match="pickled object arrays"):
        load_model(path)
    assert not marker.exists()


def test_skops_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sneaky.skops"
    sio.dump(Sneaky(), path)
    with pytest.raises(UnsafeModelError, match="Sneaky"):
        load_model(path)


def test_corrupt_and_unknown_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"PK not really a zip")
    with pytest.raises(ModelFileError, match="skops"):
        load_model(bad)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.skops")
    other = tmp_path / "model.h5"
    other.write_bytes(b"xyz")
    with pytest.raises(ModelFileError, match="unknown model format"):
        load_model(other)
    broken = tmp_path / "model.json"
    broken.write_text("{not json")
    with pytest.raises(ModelFileError, match="JSON"):
        load_model(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="expected an object"):
        load_model(listed)


def test_skops_estimator_declares_its_hyperparameters(tmp_path: Path, diabetes: Dataset) -> None:
    path = tmp_path / "ridge.skops"
    sio.dump(Ridge(alpha=2.0).fit(diabetes.X_train, diabetes.y_train), path)
    loaded = load_model(path)
    assert loaded.format == "skops" and loaded.learner == "ridge"
    assert loaded.declared == {"alpha": 2.0}


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_coefficient_files_round_trip(
    tmp_path: Path,
    suffix: str,
    cancer: Dataset,
    write_data: Callable[..., Path],
    fit: Any,
) -> None:
    labels = np.where(cancer.y_train == 1, "benign", "malignant")
    models = {  # name: (estimator, true value, tolerated relative error)
        "logistic_l2": (LogisticRegression(C=0.5, tol=1e-10, max_iter=5000), 0.5, 1e-5),
        "kernel_svm": (SVC(C=0.5), 0.5, 1e-10),
        "mlp_classifier": (
            get_learner("mlp_classifier").make_estimator({"alpha": 1.0}, tol=1e-10),
            1.0,
            1e-2,
        ),
    }
    data = write_data(cancer.X_train, labels, name="train.csv", target="label")
    for name, (model, true, bound) in models.items():
        model = fit(model, cancer.X_train, labels)
        lrn = get_learner(name)
        path = save_coefficients(tmp_path / f"{name}{suffix}", name, lrn.coefficients(model))
        report = audit_sklearn(path, data, "label", true=[str(true)])
        assert report.learner == name
        assert report.relative_error[lrn.hyperparameters[0]] < bound, name


def test_coefficients_without_learner_need_one(
    tmp_path: Path, diabetes: Dataset, write_data: Callable[..., Path]
) -> None:
    model = Ridge(alpha=4.0).fit(diabetes.X_train, diabetes.y_train)
    path = tmp_path / "w.npz"
    np.savez(path, coef=model.coef_, intercept=model.intercept_)
    data = write_data(diabetes.X_train, diabetes.y_train)
    with pytest.raises(UnknownLearnerError, match="--learner"):
        audit_sklearn(path, data, "target")
    report = audit_sklearn(path, data, "target", learner="ridge")
    assert report.estimates["alpha"] == pytest.approx(4.0, rel=1e-8)


def test_missing_coefficient_is_named(tmp_path: Path, diabetes: Dataset) -> None:
    path = save_coefficients(tmp_path / "w.json", "ridge", {"intercept": 0.0})
    data_x, data_y = diabetes.X_train, diabetes.y_train
    loaded = load_model(path)
    with pytest.raises(ModelFileError, match="lack 'coef'"):
        steal_hyperparameters(loaded.learner, loaded.coefficients, data_x, data_y)


def test_non_finite_weights_are_refused(tmp_path: Path, diabetes: Dataset) -> None:
    coef = np.ones(diabetes.X_train.shape[1])
    coef[3] = np.nan
    path = save_coefficients(tmp_path / "w.npz", "ridge", {"coef": coef, "intercept": 0.0})
    loaded = load_model(path)
    with pytest.raises(NonFiniteError, match="'coef'"):
        steal_hyperparameters("ridge", loaded.coefficients, diabetes.X_train, diabetes.y_train)


def test_pipeline_and_feature_names(
    tmp_path: Path, cancer: Dataset, write_data: Callable[..., Path], fit: Any
) -> None:
    cols = [f"f{i}" for i in range(cancer.X_train.shape[1])]
    frame = pd.DataFrame(cancer.X_train * 3 + 1, columns=cols)
    model = fit(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.2, tol=1e-10, max_iter=5000)),
        frame,
        cancer.y_train,
    )
    path = tmp_path / "pipe.skops"
    sio.dump(model, path)
    # columns in another order in the file: the model's own order is used
    shuffled = cols[::-1]
    data = write_data(
        frame[shuffled].to_numpy(), cancer.y_train, name="d.parquet", columns=shuffled
    )
    report = audit_sklearn(path, data, "target", true=["0.2"])
    assert report.relative_error["C"] < 1e-5
    short = write_data(frame[cols[:5]].to_numpy(), cancer.y_train, name="s.csv", columns=cols[:5])
    with pytest.raises(ShapeMismatchError, match="f5"):
        audit_sklearn(path, short, "target")


def test_data_files(tmp_path: Path, write_data: Callable[..., Path]) -> None:
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    for name in ("d.csv", "d.parquet"):
        path = write_data(X, y, name=name)
        got_X, got_y, cols = load_data(path, "target")
        np.testing.assert_array_equal(got_X, X)
        np.testing.assert_array_equal(got_y, y)
        assert cols == ["x0", "x1", "x2"]
    with pytest.raises(DataFileError, match="no target column 'label'"):
        load_data(tmp_path / "d.csv", "label")
    with pytest.raises(DataFileError, match="does not exist"):
        load_data(tmp_path / "none.csv", "target")
    (tmp_path / "d.txt").write_text("a,b\n1,2\n")
    with pytest.raises(DataFileError, match="unknown data format"):
        load_data(tmp_path / "d.txt", "b")
    text = pd.DataFrame({"a": ["x", "y"], "target": [1, 2]})
    text.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataFileError, match="not numeric"):
        load_data(tmp_path / "t.csv", "target")
    holes = pd.DataFrame({"a": [1.0, np.nan], "target": [1, 2]})
    holes.to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(NonFiniteError, match="column 'a' row 1"):
        load_data(tmp_path / "h.csv", "target")
    missing_y = pd.DataFrame({"a": [1.0, 2.0], "target": [1.0, None]})
    missing_y.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(NonFiniteError, match="target"):
        load_data(tmp_path / "m.csv", "target")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataFileError, match="cannot read"):
        load_data(tmp_path / "bad.parquet", "target")
