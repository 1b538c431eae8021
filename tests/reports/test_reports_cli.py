"""``hyperseal report``: one clear line for every refusal, files written where they should be."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner.main import app
from tuner.vault import generate_key_file


def _report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["report", *map(str, args)])
    return result.exit_code, result.output


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.fixture
def run_copy(synthetic_run: dict[str, Any], tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic_run["run"], tmp_path / "run"))


def test_not_a_run_folder(hyperseal_env: Path, tmp_path: Path) -> None:
    code, out = _report("tune", tmp_path)
    assert code == 31
    assert "is not a hyperseal tuning run" in _one_line_error(out)
    code, out = _report("tune", tmp_path / "nowhere")
    assert code == 31 and "no such folder" in _one_line_error(out)
    (tmp_path / "notes.txt").write_text("x")
    code, out = _report("tune", tmp_path / "notes.txt")
    assert code == 31 and "is a file, not a folder; pass a tuning run" in _one_line_error(out)


def test_an_audit_folder_given_to_report_tune_points_to_report_audit(
    hyperseal_env: Path, model_audit: dict[str, Any]
) -> None:
    code, out = _report("tune", model_audit["folder"])
    assert code == 31
    assert "is an audit result, not a tuning run; use `hyperseal report audit`" in (
        _one_line_error(out)
    )


def test_journal_missing(hyperseal_env: Path, run_copy: Path) -> None:
    (run_copy / "journal.hsj").unlink()
    code, out = _report("tune", run_copy)
    assert code == 31 and "sealed journal journal.hsj is missing" in _one_line_error(out)


def test_no_key(hyperseal_env: Path, run_copy: Path) -> None:
    code, out = _report("tune", run_copy)  # no option and no default key file
    assert code == 11
    assert "sealed with a key file; pass --key-file FILE" in _one_line_error(out)
    assert not (run_copy / "report.html").exists()


def test_wrong_key(hyperseal_env: Path, run_copy: Path, tmp_path: Path) -> None:
    other = generate_key_file(tmp_path / "other.key")
    code, out = _report("tune", run_copy, "--key-file", other.path)
    assert code == 11 and "wrong key file" in _one_line_error(out)
    assert not (run_copy / "report.html").exists()


def test_writes_both_files_and_replaces_its_own(
    hyperseal_env: Path, run_copy: Path, synthetic_run: dict[str, Any]
) -> None:
    key = synthetic_run["key_path"]
    for _ in range(2):  # a second report replaces the first
        code, out = _report("tune", run_copy, "--key-file", key)
        assert code == 0, out
    assert out.splitlines()[:2] == [
        f"report: {run_copy / 'report.html'}",
        f"markdown: {run_copy / 'report.md'}",
    ]
    assert "shows hyperparameter values" in out  # the note (stderr) says so
    assert stat.S_IMODE((run_copy / "report.html").stat().st_mode) == 0o600


def test_out_names_the_html_file(hyperseal_env: Path, run_copy: Path, synthetic_run, tmp_path):
    target = tmp_path / "shared" / "tuning.html"
    target.parent.mkdir()
    key = ("--key-file", synthetic_run["key_path"])
    code, out = _report("tune", run_copy, *key, "--out", target)
    assert code == 0, out
    assert target.exists() and target.with_suffix(".md").exists()
    code, out = _report("tune", run_copy, *key, "--out", tmp_path / "tuning.pdf")
    assert code == 33 and "must end in .html" in _one_line_error(out)
    code, out = _report("tune", run_copy, *key, "--out", tmp_path / "missing" / "r.html")
    assert code == 33 and "no such folder" in _one_line_error(out)


def test_a_run_given_as_dot_is_named_after_its_folder(
    hyperseal_env: Path, run_copy: Path, synthetic_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(run_copy)
    code, out = _report("tune", ".", "--key-file", synthetic_run["key_path"])
    assert code == 0, out
    html = (run_copy / "report.html").read_text()
    assert f"Tuning report: {run_copy.name}<" in html and "Tuning report: <" not in html


@pytest.mark.parametrize("name", ["report.html", "report.md"])
def test_never_overwrites_a_foreign_file(
    hyperseal_env: Path, run_copy: Path, synthetic_run: dict[str, Any], name: str
) -> None:
    (run_copy / name).write_text("my notes")
    code, out = _report("tune", run_copy, "--key-file", synthetic_run["key_path"])
    assert code == 33
    assert "exists and is not a hyperseal report" in _one_line_error(out)
    assert (run_copy / name).read_text() == "my notes"
    other = "report.md" if name == "report.html" else "report.html"
    assert not (run_copy / other).exists()  # nothing half-written


def test_never_writes_through_a_link(
    hyperseal_env: Path, run_copy: Path, synthetic_run: dict[str, Any], tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (run_copy / "report.html").symlink_to(victim)
    code, out = _report("tune", run_copy, "--key-file", synthetic_run["key_path"])
    assert code == 33 and "is not a hyperseal report" in _one_line_error(out)
    assert victim.read_text() == "keep"


def test_open_hands_the_file_to_the_browser(
    hyperseal_env: Path, run_copy: Path, synthetic_run: dict[str, Any], monkeypatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    code, out = _report(
        "tune", run_copy, "--key-file", synthetic_run["key_path"], "--redact", "--open"
    )
    assert code == 0, out
    assert opened == [(run_copy / "report-redacted.html").resolve().as_uri()]


def test_the_default_key_file_is_used(
    hyperseal_env: Path, run_copy: Path, synthetic_run: dict[str, Any]
) -> None:
    home = hyperseal_env / "home"
    home.mkdir()
    shutil.copy(synthetic_run["key_path"], home / "key")  # as `hyperseal tune` keeps it
    code, out = _report("tune", run_copy, "--redact")
    assert code == 0, out


def test_audit_commands(hyperseal_env: Path, model_audit, reproduction, tmp_path, run_copy):
    code, out = _report("audit", model_audit["folder"], "--key-file", model_audit["key_path"])
    assert code == 0, out
    assert (model_audit["folder"] / "report.html").exists()
    code, out = _report("audit", model_audit["folder"])  # no key
    assert code == 11 and "--key-file" in _one_line_error(out)
    rep = Path(shutil.copytree(reproduction, tmp_path / "rep"))
    code, out = _report("audit", rep, "--redact")  # public tables: no key needed
    assert code == 0, out
    assert (rep / "report-redacted.html").exists()
    code, out = _report("audit", run_copy)
    assert code == 31 and "use `hyperseal report tune`" in _one_line_error(out)
    code, out = _report("audit", tmp_path / "empty-folder-that-is-missing")
    assert code == 31


def test_cli_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, reports.cli; "
        "heavy = [m for m in ('matplotlib', 'pandas', 'jinja2', 'torch', 'numpy') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_reproduction_needs_no_warning(hyperseal_env, reproduction, tmp_path) -> None:
    rep = Path(shutil.copytree(reproduction, tmp_path / "rep"))
    code, out = _report("audit", rep)
    assert code == 0 and "shows hyperparameter values" not in out
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((rep / "report.html").stat().st_mode) == 0o644 & ~umask
    assert "Public data: nothing secret" in (rep / "report.html").read_text()


@pytest.mark.parametrize(
    ("table", "csv", "text"),
    [
        (
            "estimation",
            "a,b\n1,2\n",
            "missing column(s) learner, dataset, hyperparameter, "
            "true_value, relative_error, status",
        ),
        (
            "estimation",
            "learner,dataset,hyperparameter,true_value,relative_error,status\n"
            "ridge,diabetes,alpha,high,0.1,ok\n",
            "column(s) true_value hold text",
        ),
        (
            "defences",
            "learner,hyperparameter,defence,level\nridge,alpha,round,2\n",
            "missing column(s) relative_error, score_change",
        ),
    ],
)
def test_reproduction_table_without_the_columns_the_report_needs(
    hyperseal_env: Path, tmp_path: Path, table: str, csv: str, text: str
) -> None:
    (tmp_path / "manifest.json").write_text('{"preset": "quick", "tables": {}}')
    good = "learner,dataset,hyperparameter,true_value,relative_error,status\n"
    (tmp_path / "estimation.csv").write_text(good + "ridge,diabetes,alpha,1.0,0.0,ok\n")
    (tmp_path / f"{table}.csv").write_text(csv)
    code, out = _report("audit", tmp_path)
    line = _one_line_error(out)
    assert code == 32 and f"{tmp_path / table}.csv: " in line and text in line, line
    assert not (tmp_path / "report.html").exists()


def test_model_audit_summary_with_a_model_that_is_not_an_object(
    hyperseal_env: Path, model_audit: dict[str, Any]
) -> None:
    summary = model_audit["folder"] / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "model": [1]}))
    code, out = _report("audit", model_audit["folder"], "--key-file", model_audit["key_path"])
    line = _one_line_error(out)
    assert code == 32 and f"{summary}: 'model' is not an object" in line, line
    assert not (model_audit["folder"] / "report.html").exists()
