"""The paper's experiments on tiny grids: tables, documented columns, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.classical.datasets import DATASETS, load_dataset
from audit.classical.defences import add_noise, round_weights
from audit.classical.learners import LEARNERS, get_learner
from audit.classical.reproduction import reproduce
from audit.classical.tables import (
    COLUMNS,
    SETTINGS,
    ReproduceConfig,
    defence_table,
    estimation_table,
    tolerance_summary,
    tolerance_table,
    tsr_table,
)
from audit.errors import AuditOptionError

TINY = ReproduceConfig(
    learners=("ridge", "lasso", "elastic_net", "logistic_l2", "kernel_svm"),
    all_datasets=False,
    values=(1e-2, 1e3),
    tolerance_learners=("lasso", "logistic_l2"),
    tols=(1e-2, 1e-4, 1e-6),
    defence_learners=("ridge", "kernel_svm"),
    decimals=(1, 3),
    noise=(1e-3,),
    tsr_learners=("ridge", "logistic_l2"),
    fractions=(0.3,),
    tsr_grid=(0.01, 0.1, 1.0, 10.0),
    kernel_max_train=200,
)


def test_every_learner_has_a_setting_on_known_datasets() -> None:
    assert set(SETTINGS) == set(LEARNERS)
    for name, setting in SETTINGS.items():
        assert all(ds in DATASETS for ds in setting.datasets)
        assert set(get_learner(name).hyperparameters) <= set(setting.reference)
        task = {DATASETS[ds] for ds in setting.datasets}
        assert task == {get_learner(name).task}


def test_estimation_table() -> None:
    table = estimation_table(TINY)
    assert list(table.columns) == list(COLUMNS["estimation"])
    ridge = table[table["learner"] == "ridge"]
    assert (ridge["relative_error"] < 1e-8).all()
    lasso = table[(table["learner"] == "lasso") & (table["true_value"] == 1e3)]
    assert (lasso["status"] == "no_equation").all() and lasso["estimate"].isna().all()
    enet = table[table["learner"] == "elastic_net"]
    assert set(enet["hyperparameter"]) == {"alpha", "l1_ratio"}
    assert enet.groupby("run").size().eq(2).all()
    assert table["test_metric"].isin(["r2", "accuracy"]).all()


def test_tolerance_table_and_slope() -> None:
    table = tolerance_table(TINY)
    assert list(table.columns) == list(COLUMNS["tolerance"])
    summary = tolerance_summary(table)
    assert list(summary.columns) == list(COLUMNS["tolerance_summary"])
    for _, row in summary.iterrows():
        assert row["error_at_tightest"] < row["error_at_loosest"]
        assert row["slope"] > 0.3  # error shrinks with tol, roughly linearly


def test_defence_table() -> None:
    table = defence_table(TINY)
    assert list(table.columns) == list(COLUMNS["defences"])
    ridge = table[table["learner"] == "ridge"]
    none = ridge[ridge["defence"] == "none"]["relative_error"].iloc[0]
    one = ridge[(ridge["defence"] == "round") & (ridge["level"] == 1)]["relative_error"].iloc[0]
    three = ridge[(ridge["defence"] == "round") & (ridge["level"] == 3)]["relative_error"].iloc[0]
    assert none < 1e-8 < three < one
    assert (table[table["defence"] == "none"]["score_change"] == 0).all()


def test_tsr_table() -> None:
    table = tsr_table(TINY)
    assert list(table.columns) == list(COLUMNS["train_steal_retrain"])
    assert (table["status"] == "ok").all()
    ridge = table[table["learner"] == "ridge"].iloc[0]
    assert ridge["value_stolen"] == pytest.approx(ridge["value_tuned_fraction"], rel=1e-6)
    assert ridge["fraction"] == pytest.approx(0.3, abs=0.01)
    assert table["seconds_tsr"].gt(0).all()


def test_reproduce_writes_csv_parquet_and_manifest(tmp_path: Path) -> None:
    config = ReproduceConfig(**{**TINY.__dict__, "learners": ("ridge",)})
    seen: list[str] = []

    class Recorder:
        def start(self, description: str, total: int | None = None) -> None:
            seen.append(description)

        def advance(self, steps: int = 1, **info: object) -> None:
            pass

        def finish(self) -> None:
            seen.append("finish")

    result = reproduce(tmp_path / "out", config=config, progress=Recorder())
    assert seen[-1] == "finish" and "estimation" in seen
    for name, frame in result.tables.items():
        back = pd.read_csv(tmp_path / "out" / f"{name}.csv")
        assert list(back.columns) == list(frame.columns)
        assert len(pd.read_parquet(tmp_path / "out" / f"{name}.parquet")) == len(frame)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["preset"] == "custom"
    assert set(manifest["seconds"]) == {
        "estimation",
        "tolerance",
        "defences",
        "train_steal_retrain",
    }


def test_reproduce_refuses_unknown_names() -> None:
    with pytest.raises(AuditOptionError, match="unknown learner"):
        reproduce(config=ReproduceConfig(learners=("nope",)))
    with pytest.raises(AuditOptionError, match="unknown table"):
        reproduce(config=TINY, tables=("nope",))
    with pytest.raises(AuditOptionError, match="unknown dataset"):
        load_dataset("mnist")


def test_quick_preset_is_small() -> None:
    quick, full = ReproduceConfig.quick(), ReproduceConfig.full()
    assert not quick.all_datasets and len(quick.tols) < len(full.tols)
    assert full.values == tuple(10.0**k for k in range(-3, 4))
    # the same true values as the full run, so that its medians are comparable
    assert quick.values == full.values


def test_defences_touch_only_weights() -> None:
    lrn = get_learner("kernel_ridge")
    coefs = {"dual_coef": np.array([0.123456, -1.98765]), "X_fit": np.array([[0.33333], [1.0]])}
    rounded = round_weights(lrn, coefs, 2)
    np.testing.assert_array_equal(rounded["dual_coef"], [0.12, -1.99])
    np.testing.assert_array_equal(rounded["X_fit"], coefs["X_fit"])
    noisy = add_noise(lrn, coefs, 0.1, seed=1)
    assert not np.array_equal(noisy["dual_coef"], coefs["dual_coef"])
    np.testing.assert_array_equal(noisy["X_fit"], coefs["X_fit"])
    mlp = {"coef_0": np.ones((2, 2)) / 3, "intercept_0": np.ones(2) / 3, "activation": "tanh"}
    assert round_weights("mlp_regressor", mlp, 1)["coef_0"][0, 0] == pytest.approx(0.3)
    with pytest.raises(AuditOptionError):
        round_weights(lrn, coefs, -1)
    with pytest.raises(AuditOptionError):
        add_noise(lrn, coefs, float("nan"))


def test_audit_reproduce_is_the_function_after_its_module_loads() -> None:
    # The CLI imports the module; a notebook calling audit.reproduce(...) afterwards
    # must still get the function (a submodule of the same name would replace it).
    import audit
    import audit.classical.reproduction

    assert audit.reproduce is audit.classical.reproduction.reproduce
    assert callable(audit.reproduce)
