"""The tuning report: sections, inline plots, Markdown twin, redaction (real and synthetic runs)."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reports import build_tune_report, read_tune_run, render_tune_report, to_html, to_markdown
from reports.tune_report import SECTIONS
from tuner.main import app

PNG = "data:image/png;base64,"


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


@pytest.fixture(scope="module")
def synthetic_reports(synthetic_run: dict[str, Any]) -> dict[str, Any]:
    """The synthetic run, and its report built once in both forms."""
    run = read_tune_run(synthetic_run["run"], synthetic_run["key"])
    full, redacted = build_tune_report(run), build_tune_report(run, redact=True)
    return {
        "run": run,
        "full": full,
        "redacted": redacted,
        "html": to_html(full),
        "md": to_markdown(full),
        "html_redacted": to_html(redacted),
        "md_redacted": to_markdown(redacted),
    }


# -- a real `hyperseal tune` run -----------------------------------------------------------


def test_report_of_a_real_run(real_run: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    run = _copy(real_run["run"], tmp_path)
    monkeypatch.setenv("HYPERSEAL_HOME", str(real_run["home"]))  # its default key file
    monkeypatch.delenv("HYPERSEAL_PASSPHRASE", raising=False)
    result = CliRunner().invoke(app, ["report", "tune", str(run)])
    assert result.exit_code == 0, result.output
    html_path, md_path = run / "report.html", run / "report.md"
    assert f"report: {html_path}" in result.output
    html, md = html_path.read_text(), md_path.read_text()
    for title in SECTIONS.values():
        assert f">{title}</a></h2>" in html
        assert f"## {title}" in md
    assert html.count(PNG) >= 15  # 3 history, 10 parameters, parallel, curves
    assert md.count(PNG) == html.count(PNG)
    trials = json.loads((run / "run.json").read_text())["summary"]["trials"]
    assert trials == 4 and all(f'<td class="num">{n}</td>' in html for n in range(trials))
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for path in (html_path, md_path):  # it shows the recipe: private to its owner
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_redacted_report_of_a_real_run_holds_no_value(
    real_run: dict[str, Path], tmp_path: Path, monkeypatch, leaks, allowed_for_tune
) -> None:
    run = _copy(real_run["run"], tmp_path)
    monkeypatch.setenv("HYPERSEAL_HOME", str(real_run["home"]))
    result = CliRunner().invoke(app, ["report", "tune", str(run), "--redact"])
    assert result.exit_code == 0, result.output
    html = (run / "report-redacted.html").read_text()
    md = (run / "report-redacted.md").read_text()
    data = read_tune_run(run, _key(real_run))
    values, allowed = data.values(), allowed_for_tune(data)
    assert leaks(html, values, allowed) == []
    assert leaks(md, values, allowed) == []
    for figure in build_tune_report(data, redact=True).figures():
        assert leaks(" ".join(figure.texts), values, allowed) == [], figure.name
    assert leaks(to_html(build_tune_report(data)), values, allowed)  # the full one shows them
    assert "Redacted: no hyperparameter values" in html


def _key(real_run: dict[str, Path]) -> Any:
    from tuner.vault import KeyFile

    return KeyFile(real_run["key"])


# -- a synthetic history with every kind of trial ------------------------------------------


def test_every_section_and_block(synthetic_reports: dict[str, Any]) -> None:
    html, run = synthetic_reports["html"], synthetic_reports["run"]
    for section_id, title in SECTIONS.items():
        assert f'<section id="{section_id}">' in html and title in html
        assert f'href="#{section_id}"' in html  # in the table of contents
    assert {t.status for t in run.trials} == {"ok", "pruned", "failed"}
    assert "FloatingPointError: loss became nan" in html  # failures with their reasons
    assert "frozen mid-search" in html and re.search(r"after \d+ trials", html)
    assert "importance (share of fitness variance)" in " ".join(
        t for f in synthetic_reports["full"].figures() for t in f.texts
    )
    figures = synthetic_reports["full"].figures()
    assert all(f._repr_png_().startswith(b"\x89PNG") for f in figures)  # Jupyter shows them
    names = {f.name for f in figures}
    assert {
        "history-trials",
        "history-seconds",
        "history-epochs",
        "parallel",
        "importance",
        "curves",
        "param-lr",
        "param-schedule",
    } <= names
    best = run.best
    assert re.search(rf'<tr class="hl">\s*<td class="num">{best.number}</td>', html)
    assert f"{best.fitness:.4f}" in html


def test_log_parameters_get_log_axes_and_choices_categories(synthetic_reports) -> None:
    figures = {f.name: f for f in synthetic_reports["full"].figures()}
    assert any("⁻" in t for t in figures["param-lr"].texts)  # 10⁻³ ticks: a log axis
    assert {"cosine", "step", "constant"} <= set(figures["param-schedule"].texts)


def test_redacted_synthetic_report_holds_no_value(synthetic_reports, leaks, allowed_for_tune):
    run = synthetic_reports["run"]
    values, allowed = run.values(), allowed_for_tune(run)
    for key in ("html_redacted", "md_redacted"):
        assert leaks(synthetic_reports[key], values, allowed) == [], key
    redacted = synthetic_reports["redacted"]
    names = {f.name for f in redacted.figures()}
    assert not any(n.startswith("param-") or n == "parallel" for n in names)
    assert {"history-trials", "importance", "curves"} <= names
    for figure in redacted.figures():
        assert leaks(" ".join(figure.texts), values, allowed) == [], figure.name
        assert leaks(figure.alt + figure.caption, values, allowed) == []
    # what it keeps: fitness, importances, the failures
    html = synthetic_reports["html_redacted"]
    assert f"{run.best.fitness:.4f}" in html
    assert all(f"{r['importance']:.3f}" in html for r in run.importance)
    assert "FloatingPointError: loss became nan" in html
    # the same checks find values in the full report, in its text and on its axes
    assert leaks(synthetic_reports["html"], values, allowed)
    assert any(
        leaks(" ".join(f.texts), values, allowed) for f in synthetic_reports["full"].figures()
    )


def test_markdown_twin(synthetic_reports: dict[str, Any]) -> None:
    md = synthetic_reports["md"]
    assert md.startswith("<!-- hyperseal-report")
    for title in SECTIONS.values():
        assert f"\n## {title}\n" in md
    body, _, refs = md.partition("\n[history-trials]: ")
    assert PNG not in body  # images are reference definitions at the end
    assert refs.startswith(PNG)
    assert "![Best fitness so far against trial number][history-trials]" in body
    assert "| trial | status | fitness |" in body


def test_a_run_still_going_is_reported_so_far(synthetic_run, tmp_path: Path) -> None:
    run = _copy(synthetic_run["run"], tmp_path)
    info = json.loads((run / "run.json").read_text())
    info["status"] = "running"
    del info["summary"]
    (run / "run.json").write_text(json.dumps(info))
    paths = render_tune_report(run, synthetic_run["key"])
    html = paths.html.read_text()
    assert "status is &#39;running&#39;" in html
    assert "No importances" in html


def warm_score(params: dict, trial) -> dict:  # type: ignore[no-untyped-def]
    return {"score": 1.0 - (params["lr"] - 0.3) ** 2}


def test_a_warm_started_run_names_the_trials_that_ran_its_configs(
    tmp_path: Path, leaks, allowed_for_tune
) -> None:
    from tuner.objectives import ObjectiveOptions, tune_objective
    from tuner.search.study import StudySettings
    from tuner.vault import generate_key_file

    key = generate_key_file(tmp_path / "k.key")
    (tmp_path / "space.yaml").write_text("lr: {type: float, low: 0.0, high: 1.0, default: 0.5}\n")
    settings = StudySettings(
        budget=4,
        fitness="score",
        pruner="none",
        enqueued=[{"lr": 0.312345}, {"lr": 0.287654}],  # as a warm start seals them
        warm_start_runs=2,
    )
    options = ObjectiveOptions(tmp_path / "space.yaml", objective=warm_score, settings=settings)
    tune_objective(options, key, tmp_path / "run")
    data = read_tune_run(tmp_path / "run", key)
    md = to_markdown(build_tune_report(data, redact=True))
    assert "2 configs from 2 earlier runs, run as trials 1, 2" in md
    assert leaks(md, data.values(), allowed_for_tune(data)) == []
