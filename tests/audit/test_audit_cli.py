"""``hyperseal audit ...``: output, JSON, exit codes, import weight.

The sub-app is invoked directly (it maps errors itself, see ``tuner.cli_support``),
and once through the root app to check it is mounted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
from typer.testing import CliRunner

from audit.classical.datasets import Dataset
from audit.classical.reproduction import ReproduceConfig
from audit.cli import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: Any, code: int = 0) -> Any:
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


@pytest.fixture
def enet_files(
    tmp_path: Path, diabetes: Dataset, write_data: Callable[..., Path], fit: Any
) -> tuple[Path, Path]:
    model = fit(
        ElasticNet(alpha=0.02, l1_ratio=0.4, tol=1e-10, max_iter=100_000),
        diabetes.X_train,
        diabetes.y_train,
    )
    path = tmp_path / "enet.skops"
    sio.dump(model, path)
    return path, write_data(diabetes.X_train, diabetes.y_train)


def test_sklearn_prints_estimates_in_library_names(
    runner: CliRunner, enet_files: tuple[Path, Path]
) -> None:
    model, data = enet_files
    out = run(
        runner,
        "sklearn",
        "--model",
        model,
        "--data",
        data,
        "--target",
        "target",
        "--true",
        "0.02",
        "--true",
        "0.4",
    ).stdout
    assert "alpha" in out and "l1_ratio" in out and "relative error" in out
    assert "stores alpha=0.02" in out  # the file leaks its own hyperparameters


def test_sklearn_json_is_one_object(runner: CliRunner, enet_files: tuple[Path, Path]) -> None:
    model, data = enet_files
    out = run(
        runner,
        "sklearn",
        "--model",
        model,
        "--data",
        data,
        "--target",
        "target",
        "--true",
        "l1_ratio=0.4",
        "--true",
        "alpha=0.02",
        "--json",
    ).stdout
    doc = json.loads(out)
    assert set(doc) >= {"learner", "estimates", "diagnostics"}
    assert doc["learner"] == "elastic_net"
    assert doc["estimates"]["alpha"] == pytest.approx(0.02, rel=1e-5)
    assert doc["estimates"]["l1_ratio"] == pytest.approx(0.4, rel=1e-5)
    assert doc["relative_error"]["alpha"] < 1e-5
    diag = doc["diagnostics"]
    assert diag["n_equations"] >= 2 and diag["condition_number"] >= 1
    assert "residual_norm" in diag and "lambda" in diag


def test_sklearn_says_when_an_estimate_is_not_a_measurement(
    runner: CliRunner, tmp_path: Path, write_data: Callable[..., Path], fit: Any
) -> None:
    from audit.classical.datasets import load_dataset
    from audit.classical.learners import get_learner

    iris = load_dataset("iris2")
    data = write_data(iris.X_train, iris.y_train)
    hinge = get_learner("linear_svc_hinge")  # LinearSVC(loss="hinge"), as the reproduction
    for c in (1000.0, 0.01):
        model = fit(hinge.make_estimator({"C": c}), iris.X_train, iris.y_train)
        sio.dump(model, tmp_path / f"{c}.skops")
    args = ["sklearn", "--data", data, "--target", "target", "--model"]
    doc = json.loads(run(runner, *args, tmp_path / "1000.0.skops", "--json").stdout)
    assert doc["estimates"]["C"] < 0  # liblinear stopped at max_iter
    assert doc["status"] == "out_of_range"
    assert "C > 0" in doc["reason"] and "not converged" in doc["reason"]
    text = run(runner, *args, tmp_path / "1000.0.skops").stdout
    assert "status       out_of_range (estimate out of range: C = -7.376" in text
    good = json.loads(run(runner, *args, tmp_path / "0.01.skops", "--json").stdout)
    assert good["status"] == "ok" and good["reason"] == ""
    assert "status " not in run(runner, *args, tmp_path / "0.01.skops").stdout


def test_sklearn_json_has_no_nan(
    runner: CliRunner, tmp_path: Path, diabetes: Dataset, write_data: Callable[..., Path], fit: Any
) -> None:
    path = tmp_path / "lasso.skops"
    sio.dump(fit(Lasso(alpha=1e-4, tol=1e-10), diabetes.X_train, diabetes.y_train), path)
    data = write_data(diabetes.X_train, diabetes.y_train)
    out = run(runner, "sklearn", "--model", path, "--data", data, "--target", "target", "--json")
    json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


@pytest.mark.parametrize(
    ("case", "code", "text"),
    [
        ("unknown_learner", 21, "unknown learner"),
        ("wrong_learner", 21, "does not model"),
        ("shape", 22, "input features"),
        ("no_equation", 23, "every weight is zero"),
        ("non_finite", 24, "missing or infinite"),
        ("pickle", 25, "pickle"),
        ("missing_model", 26, "does not exist"),
        ("target", 27, "no target column"),
        ("unsupported", 28, "class_weight"),
        ("true_count", 29, "--true"),
    ],
)
def test_each_error_is_one_line_with_its_exit_code(
    runner: CliRunner,
    tmp_path: Path,
    iris2: Dataset,
    write_data: Callable[..., Path],
    fit: Any,
    case: str,
    code: int,
    text: str,
) -> None:
    X, y = iris2.X_train, iris2.y_train
    model = tmp_path / "m.skops"
    sio.dump(fit(LogisticRegression(C=1.0), X, y), model)
    data = write_data(X, y)
    args: list[Any] = ["--model", model, "--data", data, "--target", "target"]
    if case == "unknown_learner":
        args += ["--learner", "nope"]
    elif case == "wrong_learner":
        args += ["--learner", "ridge"]
    elif case == "shape":
        args[3] = write_data(X[:, :2], y, name="narrow.csv")
    elif case == "no_equation":
        sio.dump(fit(LogisticRegression(C=1e-4, l1_ratio=1.0, solver="liblinear"), X, y), model)
    elif case == "non_finite":
        Xn = X.copy()
        Xn[2, 1] = np.nan
        args[3] = write_data(Xn, y, name="nan.csv")
    elif case == "pickle":
        args[1] = tmp_path / "m.pkl"
    elif case == "missing_model":
        args[1] = tmp_path / "absent.skops"
    elif case == "target":
        args[5] = "label"
    elif case == "unsupported":
        sio.dump(fit(LogisticRegression(class_weight="balanced"), X, y), model)
    elif case == "true_count":
        args += ["--true", "1", "--true", "2"]
    result = run(runner, "sklearn", *args, code=code)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines


def test_learners_lists_every_learner(runner: CliRunner) -> None:
    from audit.classical.learners import LEARNERS

    out = run(runner, "learners").stdout
    for name in LEARNERS:
        assert name in out


def test_reproduce_writes_tables(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = ReproduceConfig(
        learners=("ridge", "logistic_l2"),
        all_datasets=False,
        values=(1.0,),
        tolerance_learners=("logistic_l2",),
        tols=(1e-3, 1e-6),
        defence_learners=("ridge",),
        decimals=(2,),
        noise=(1e-2,),
        tsr_learners=("ridge",),
        fractions=(0.5,),
        tsr_grid=(0.1, 1.0, 10.0),
    )
    monkeypatch.setattr(ReproduceConfig, "quick", classmethod(lambda cls: tiny))
    out = run(runner, "reproduce", "--quick", "--out", tmp_path / "res").stdout
    assert "median relative error" in out and "ridge" in out
    for name in ("estimation", "tolerance", "tolerance_summary", "defences", "train_steal_retrain"):
        assert (tmp_path / "res" / f"{name}.csv").is_file()
        assert (tmp_path / "res" / f"{name}.parquet").is_file()
    manifest = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert manifest["preset"] == "quick"


@pytest.fixture
def hinge_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick preset whose run at C = 1000 on iris2 gives the negative C = -7.38."""
    tiny = ReproduceConfig(
        learners=("linear_svc_hinge",),
        all_datasets=False,
        values=(0.1, 10.0, 1000.0),
        tolerance_learners=(),
        defence_learners=(),
        tsr_learners=(),
    )
    monkeypatch.setattr(ReproduceConfig, "quick", classmethod(lambda cls: tiny))


def test_reproduce_medians_leave_out_rows_that_are_not_ok(
    runner: CliRunner, tmp_path: Path, hinge_quick: None
) -> None:
    out = run(runner, "reproduce", "--quick", "--out", tmp_path / "res").stdout
    lines = out.splitlines()
    hinge = next(line for line in lines if line.strip().startswith("linear_svc_hinge"))
    # C = 0.1 and 10 are exact (1e-16); the negative estimate (relative error 1.0) is left out
    value = float(hinge.split()[1])
    assert value < 1e-12 and "2 of 3 rows ok" in hinge
    assert "left out of the medians: 1 of 3 rows (out_of_range 1)" in out
    assert "quick preset" in out


def test_reproduce_json(runner: CliRunner, tmp_path: Path, hinge_quick: None) -> None:
    out = run(runner, "reproduce", "--quick", "--json", "--out", tmp_path / "res").stdout
    summary = json.loads(out)
    hinge = summary["medians"]["linear_svc_hinge"]
    assert hinge["median_relative_error"] < 1e-12 and (hinge["ok"], hinge["not_ok"]) == (2, 1)
    assert summary["statuses"] == {"ok": 2, "out_of_range": 1}
    assert summary["preset"] == "quick" and summary["out"] == str(tmp_path / "res")


def test_audit_cli_import_is_light() -> None:
    """``hyperseal --help`` must stay fast: the audit CLI imports no numeric library."""
    code = (
        "import sys, time; t = time.perf_counter(); import audit.cli; "
        "print(time.perf_counter() - t, [m for m in ('sklearn', 'scipy', 'torch', 'pandas', "
        "'numpy', 'skops') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    seconds, heavy = out.split(" ", 1)
    assert heavy.strip() == "[]", heavy
    assert float(seconds) < 2.0  # typically ~0.1 s; generous for a shared machine


def test_mounted_under_the_root_app(runner: CliRunner) -> None:
    root = pytest.importorskip("tuner.main", reason="the root CLI does not import right now")
    result = runner.invoke(root.app, ["audit", "learners"])
    assert result.exit_code == 0 and "ridge" in result.stdout
