"""Bad input to ``hyperseal audit``: one error line, its exit code, nothing overwritten.

Output folders are checked before any experiment or attack runs; model and
data paths, ``--true`` and ``--threads`` values are refused with a message
that names what was given.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import audit.classical.reproduction
from audit.classical.datasets import Dataset
from audit.classical.reproduction import ReproduceConfig
from audit.cli import app

TINY = ReproduceConfig(
    learners=("ridge",),
    all_datasets=False,
    values=(1.0,),
    tolerance_learners=(),
    defence_learners=("ridge",),
    decimals=(2,),
    noise=(1e-2,),
    tsr_learners=("ridge",),
    fractions=(0.5,),
    tsr_grid=(0.1, 1.0, 10.0),
)


def run(*args: Any, code: int = 0) -> Any:
    result = CliRunner().invoke(app, [*map(str, args)])
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result


def one_error_line(result: Any, *texts: str) -> None:
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for text in texts:
        assert text in lines[0], (text, lines[0])


@pytest.fixture
def tiny_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--quick`` runs :data:`TINY` (one learner, one value: about a second)."""
    monkeypatch.setattr(ReproduceConfig, "quick", classmethod(lambda cls: TINY))


@pytest.fixture
def no_experiments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any experiment starts: refusals must come before the work."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an experiment ran before the output folder was checked")

    monkeypatch.setattr(audit.classical.reproduction, "estimation_table", refuse)


@pytest.fixture
def read_only_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new folder fails as on a read-only disk (permission bits do not stop root)."""

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tuner.outputs.tempfile.mkdtemp", refuse)


# -- audit reproduce --out ---------------------------------------------------------------


@pytest.mark.usefixtures("tiny_quick")
def test_reproduce_refuses_its_earlier_tables_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "rep1"
    run("reproduce", "--quick", "--out", out)
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "estimation.csv").write_text("edited by hand\n")
    one_error_line(run("reproduce", "--quick", "--out", out, code=29), str(out), "--force")
    assert (out / "estimation.csv").read_text() == "edited by hand\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(earlier)
    run("reproduce", "--quick", "--out", out, "--force")
    assert (out / "estimation.csv").read_text().startswith("learner,dataset,")


@pytest.mark.usefixtures("tiny_quick", "hyperseal_env")
def test_a_forced_rerun_removes_the_earlier_results_reports_and_nothing_else(
    tmp_path: Path,
) -> None:
    from tuner.main import app as root

    out = tmp_path / "rep"
    run("reproduce", "--quick", "--out", out)
    assert CliRunner().invoke(root, ["report", "audit", str(out)]).exit_code == 0
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    (out / "report-redacted.md").write_text("my own notes\n")  # not a report of ours
    run("reproduce", "--quick", "--out", out, "--force")
    assert not (out / "report.html").exists() and not (out / "report.md").exists()
    assert (out / "report-redacted.md").read_text() == "my own notes\n"


@pytest.mark.usefixtures("no_experiments")
def test_reproduce_refuses_a_foreign_folder_before_any_experiment(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run("reproduce", "--quick", "--out", tmp_path, code=29)
    one_error_line(result, f"--out {tmp_path} is not empty", "--force")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.usefixtures("no_experiments")
def test_reproduce_refuses_an_unwritable_out_before_any_experiment(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    one_error_line(run("reproduce", "--out", tmp_path / "file", code=29), "is a file")
    one_error_line(run("reproduce", "--out", tmp_path / "file" / "sub", code=29), "a file")


@pytest.mark.usefixtures("no_experiments", "read_only_disk")
def test_reproduce_refuses_a_read_only_disk_before_any_experiment(tmp_path: Path) -> None:
    result = run("reproduce", "--quick", "--out", tmp_path / "new" / "rep", code=29)
    one_error_line(result, f"cannot write in {tmp_path}", "Read-only file system")
    assert list(tmp_path.iterdir()) == []


# -- audit model --out and options --------------------------------------------------------


@pytest.mark.usefixtures("read_only_disk")
def test_model_refuses_an_unwritable_out_before_loading(tmp_path: Path) -> None:
    absent = tmp_path / "no-model"  # checked after --out: exit 29, not the model's 26
    result = run("model", "--model", absent, "--out", tmp_path / "audit", code=29)
    one_error_line(result, "--out", "Read-only file system")
    (tmp_path / "file").write_text("x")
    result = run("model", "--model", absent, "--out", tmp_path / "file" / "audit", code=29)
    one_error_line(result, "a file, not a folder")


def test_model_refuses_a_non_empty_out(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    result = run("model", "--model", tmp_path / "no-model", "--out", tmp_path, code=29)
    one_error_line(result, "is not empty", "--force")
    assert (tmp_path / "summary.json").read_text() == "{}"


@pytest.mark.parametrize("threads", ["0", "-1"])
def test_model_refuses_fewer_than_one_thread(tmp_path: Path, threads: str) -> None:
    result = run(
        "model", "--model", tmp_path, "--threads", threads, "--out", tmp_path / "o", code=29
    )
    one_error_line(result, f"--threads {threads}", "at least 1")


@pytest.mark.parametrize(
    ("device", "fragment"),
    [("foo", "unknown device 'foo'"), ("cuda:99", "cuda:99")],
)
def test_model_refuses_a_bad_device_before_anything(
    tmp_path: Path, device: str, fragment: str
) -> None:
    # tmp_path is no model: the device is refused before the model is even looked at.
    result = run("model", "--model", tmp_path, "--device", device, "--out", tmp_path / "o", code=29)
    one_error_line(result, "--device", fragment)


def test_model_names_the_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("exists.txt").write_text("not a model")
    result = run("model", "--model", "exists.txt", "--out", "o", code=26)
    one_error_line(result, "exists.txt is not a released model")
    Path("w.pt").write_bytes(b"")
    one_error_line(run("model", "--model", "w.pt", "--out", "o", code=26), "w.pt has no manifest")


# -- audit sklearn: model, data and --true -------------------------------------------------


@pytest.fixture
def ridge_files(
    tmp_path: Path, diabetes: Dataset, write_data: Callable[..., Path]
) -> tuple[Path, Path]:
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=1.0).fit(diabetes.X_train, diabetes.y_train)
    path = tmp_path / "r.npz"
    np.savez(path, learner="ridge", coef=model.coef_, intercept=model.intercept_)
    return path, write_data(diabetes.X_train, diabetes.y_train)


def test_sklearn_ragged_json_names_the_file_and_field(
    tmp_path: Path, ridge_files: tuple[Path, Path]
) -> None:
    path = tmp_path / "rrag.json"
    path.write_text(json.dumps({"learner": "ridge", "coef": [[1, 2], [3]], "intercept": 0}))
    result = run(
        "sklearn", "--model", path, "--data", ridge_files[1], "--target", "target", code=26
    )
    one_error_line(result, str(path), "'coef'", "ragged")


W4 = [0.5, -0.2, 0.1, 0.3]
KERNEL_ROW = {"dual_coef": [1.0], "support": [0], "support_vectors": [[0.0, 0.0, 0.0, 0.0]]}


@pytest.mark.parametrize(
    ("learner", "fields", "code", "text"),
    [
        ("ridge", {"coef": W4, "intercept": "x"}, 26, "'intercept' is not numeric"),
        ("ridge", {"coef": W4, "intercept": {"a": 1}}, 26, "'intercept' is not numeric"),
        ("ridge", {"coef": W4, "intercept": [1.0, 2.0]}, 22, "'intercept' has 2 values"),
        ("ridge", {"coef": W4, "intercept": []}, 22, "'intercept' has 0 values"),
        ("logistic_l2", {"coef": W4, "intercept": "x"}, 26, "'intercept' is not numeric"),
        ("logistic_l2", {"coef": W4, "intercept_scaling": "x"}, 26, "'intercept_scaling'"),
        ("linear_svc_hinge", {"coef": W4, "margin_tol": "x"}, 26, "'margin_tol'"),
        ("kernel_svm", {**KERNEL_ROW, "intercept": "x"}, 26, "'intercept'"),
        ("kernel_svm", {**KERNEL_ROW, "support": ["a"]}, 26, "'support'"),
        ("kernel_svm", {**KERNEL_ROW, "kernel": "rbf", "gamma": "x"}, 26, "'gamma'"),
        ("kernel_svm", {**KERNEL_ROW, "kernel": "poly", "degree": []}, 26, "'degree'"),
        (
            "mlp_classifier",
            {"coef_0": [[1.0]] * 4, "intercept_0": [0.0], "solver": "adam", "batch_size": "x"},
            26,
            "'batch_size'",
        ),
    ],
)
def test_sklearn_malformed_settings_in_a_coefficient_file_are_one_line(
    tmp_path: Path,
    write_data: Callable[..., Path],
    learner: str,
    fields: dict[str, Any],
    code: int,
    text: str,
) -> None:
    X = np.zeros((4, 4))
    y = np.array([0, 1, 0, 1]) if learner != "ridge" else np.arange(4.0)
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"learner": learner, **fields}))
    result = run(
        "sklearn", "--model", path, "--data", write_data(X, y), "--target", "target", code=code
    )
    one_error_line(result, text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1e400", "not a finite number"),
        ("inf", "not a finite number"),
        ("nan", "not a finite number"),
        ("alpha=-inf", "not a finite number"),
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
    ],
)
def test_sklearn_refuses_true_values_no_model_has(
    ridge_files: tuple[Path, Path], value: str, text: str
) -> None:
    model, data = ridge_files
    result = run(
        "sklearn",
        "--model",
        model,
        "--data",
        data,
        "--target",
        "target",
        f"--true={value}",
        "--json",
        code=29,
    )
    one_error_line(result, f"'{value}'", text)


def test_sklearn_l1_ratio_must_lie_in_the_unit_interval() -> None:
    from audit.classical.sklearn_audit import parse_true_values
    from audit.errors import AuditOptionError

    names = ("alpha", "l1_ratio")
    assert parse_true_values(["0.1", "0"], names) == {"alpha": 0.1, "l1_ratio": 0.0}
    with pytest.raises(AuditOptionError, match=r"'l1_ratio=1.5' for l1_ratio must lie in \[0, 1\]"):
        parse_true_values(["alpha=0.1", "l1_ratio=1.5"], names)


def test_sklearn_says_a_folder_is_not_a_file(
    tmp_path: Path, ridge_files: tuple[Path, Path]
) -> None:
    model, data = ridge_files
    result = run("sklearn", "--model", tmp_path, "--data", data, "--target", "target", code=26)
    one_error_line(result, f"model file {tmp_path} is a folder, not a file")
    result = run("sklearn", "--model", model, "--data", tmp_path, "--target", "target", code=27)
    one_error_line(result, f"data file {tmp_path} is a folder, not a file")


def test_log10_error_of_an_infinite_truth_is_infinite() -> None:
    from audit.estimator import log10_error

    assert log10_error(1.0, float("inf")) == float("inf")
    assert log10_error(1e-300, 1e300) == float("inf")


def test_sklearn_refuses_a_target_that_is_one_of_the_models_inputs(
    tmp_path: Path, diabetes: Dataset, write_data: Callable[..., Path]
) -> None:
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import Ridge

    columns = [f"x{i}" for i in range(diabetes.X_train.shape[1])]
    frame = pd.DataFrame(diabetes.X_train, columns=columns)
    model = tmp_path / "r.skops"
    sio.dump(Ridge(alpha=1.0).fit(frame, diabetes.y_train), model)
    data = write_data(diabetes.X_train, diabetes.y_train)
    result = run("sklearn", "--model", model, "--data", data, "--target", "x2", code=27)
    one_error_line(result, "target column 'x2'", "is one of the model's input features")


def test_sklearn_flags_a_model_its_data_does_not_fit(
    ridge_files: tuple[Path, Path], diabetes: Dataset, write_data: Callable[..., Path]
) -> None:
    model, data = ridge_files
    fits = run("sklearn", "--model", model, "--data", data, "--target", "target")
    assert "unreliable" not in fits.stdout
    subset = write_data(diabetes.X_train[:40], diabetes.y_train[:40], name="subset.csv")
    poor = run("sklearn", "--model", model, "--data", subset, "--target", "target")
    assert "the weights are far from a stationary point" in poor.stdout
    assert "the estimate is unreliable" in poor.stdout


@pytest.mark.parametrize(("text", "expected"), [("false", 0), ("True", 1)])
def test_sklearn_reads_text_booleans_and_refuses_other_text(
    tmp_path: Path, write_data: Callable[..., Path], text: str, expected: int
) -> None:
    from audit.classical.learners.base import optional_bool

    assert optional_bool({"fit_intercept": text}, "fit_intercept", True) is bool(expected)
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"learner": "ridge", "coef": W4, "fit_intercept": "maybe"}))
    data = write_data(np.eye(4), np.arange(4.0))
    result = run("sklearn", "--model", path, "--data", data, "--target", "target", code=26)
    one_error_line(result, "'fit_intercept'", "not true or false")
