"""Audit reports: a detector audit (sealed) and the reproduction of Wang & Gong (public)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reports import (
    MissingKeyError,
    NotAResultError,
    audit_kind,
    build_model_audit_report,
    build_reproduce_report,
    read_model_audit,
    read_reproduction,
    render_audit_report,
    to_html,
    to_markdown,
)
from reports import formatting as fmt
from reports.formatting import ERROR_BANDS
from reports.model_audit_report import MODEL_SECTIONS
from reports.reproduce_report import REPRODUCE_SECTIONS
from tuner.vault import WrongKeyError, generate_key_file

PNG = "data:image/png;base64,"


def _secrets(audit: Any) -> list[float]:
    """Estimates, truth and exact errors: none may appear in a redacted audit report."""
    r = audit.result
    values = [*audit.values(), r.get("relative_error"), r.get("log10_error")]
    for d in audit.defences:
        values += [d.get("relative_error"), d.get("log10_error")]
    return [v for v in values if v is not None]


def _allowed(audit: Any) -> set[str]:
    shown = set()
    for d in audit.defences:
        shown |= {f"{d['mAP']:.4f}", f"{abs(d['mAP_lost']):.4f}"}
    shown |= {f"{abs(g['cosine']):.3f}" for g in audit.groups}
    return shown


def test_model_audit_report(model_audit: dict[str, Any]) -> None:
    paths = render_audit_report(model_audit["folder"], model_audit["key"])
    assert paths.html == model_audit["folder"] / "report.html"
    html, md = paths.html.read_text(), paths.markdown.read_text()
    for section_id, title in MODEL_SECTIONS.items():
        assert f'<section id="{section_id}">' in html and f"## {title}" in md
    assert "leaks" in html and "round:3 ★ recommended" in html
    audit = read_model_audit(model_audit["folder"], model_audit["key"])
    texts = " ".join(t for f in build_model_audit_report(audit).figures() for t in f.texts)
    assert "backbone.bn  (scale-invariant)" in texts
    assert "yes: no signal" in html  # the scale-invariant group, marked in the table
    assert "4.938e-04" in html and "5.127e-04" in html  # estimate and truth
    assert html.count(PNG) == 2  # groups, defence trade-off
    assert "bought synthetic scenes" in html  # the threat model, as the audit wrote it


def test_redacted_model_audit_shows_no_estimate_truth_or_exact_error(
    model_audit: dict[str, Any], leaks
) -> None:
    audit = read_model_audit(model_audit["folder"], model_audit["key"])
    report = build_model_audit_report(audit, redact=True)
    html, md = to_html(report), to_markdown(report)
    secrets, allowed = _secrets(audit), _allowed(audit)
    assert leaks(html, secrets, allowed) == []
    assert leaks(md, secrets, allowed) == []
    for figure in report.figures():
        assert leaks(" ".join(figure.texts), secrets, allowed) == [], figure.name
    assert [f.name for f in report.figures()] == ["defences"]  # no per-group estimates plot
    texts = report.figures()[0].texts
    assert {band for _, band in ERROR_BANDS} <= set(texts)  # errors as bands on the axis
    assert "within 5%" in html and "more than 10× off" in html and "leaks" in html
    full = to_html(build_model_audit_report(audit))
    assert leaks(full, secrets, allowed)  # the check sees them where they are


@pytest.mark.parametrize("verdict", ["partial", "resists", "unknown"])
def test_each_verdict_is_explained(make_audit, verdict: str) -> None:
    from reports.model_audit_report import VERDICT_TEXT

    folder, key = make_audit({"verdict": verdict}, verdict=verdict)
    html = render_audit_report(folder, key, redact=True).html.read_text()
    text, tone = VERDICT_TEXT[verdict]
    assert f'<div class="card {tone}">' in html and verdict in html
    assert text.split(":")[0].replace("'", "&#39;") in html


def test_sparse_result_renders(tmp_path: Path, make_audit) -> None:
    folder, key = make_audit(
        {
            "estimate": 0.01,
            "plain_estimate": 0.01,
            "ci": None,
            "truth": None,
            "relative_error": None,
            "log10_error": None,
            "verdict": "not-applicable",
            "groups": [],
            "defences": [],
            "threat_model": "",
        },
        verdict="not-applicable",
    )
    html = render_audit_report(folder, key, redact=True).html.read_text()
    assert "not-applicable" in html and "tried no defence" in html
    assert "An attacker holds the released weights" in html  # the default threat model
    full = render_audit_report(folder, key).html.read_text()
    assert "unknown" in full  # no truth to compare with


def test_model_audit_needs_its_key(model_audit: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError, match="sealed"):
        render_audit_report(model_audit["folder"], None)
    with pytest.raises(WrongKeyError):
        render_audit_report(model_audit["folder"], generate_key_file(tmp_path / "other.key"))
    assert not (model_audit["folder"] / "report.html").exists()


def test_reproduction_report(reproduction: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rep"
    shutil.copytree(reproduction, folder)
    paths = render_audit_report(folder)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    for section_id, title in REPRODUCE_SECTIONS.items():
        assert f'<section id="{section_id}">' in html and f"## {title}" in md
    rep = read_reproduction(folder)
    learners = list(dict.fromkeys(rep.tables["estimation"]["learner"]))
    report = build_reproduce_report(rep)
    names = [f.name for f in report.figures()]
    assert [f"estimation-{lr}" for lr in learners] == [n for n in names if n.startswith("est")]
    assert {"tolerance", "rounding", "tsr"} <= set(names)
    assert html.count(PNG) == len(names)
    assert "true value (log)" in report.figures()[0].texts
    assert ">true value</th>" in html  # the column is there when not redacted


def test_redacted_reproduction_hides_values(reproduction: Path, leaks) -> None:
    rep = read_reproduction(reproduction)
    report = build_reproduce_report(rep, redact=True)
    html = to_html(report)
    allowed = set()
    for name in (
        "relative_error",
        "log10_error",
        "steal_relative_error",
        "error_at_loosest",
        "error_at_tightest",
    ):
        for frame in rep.tables.values():
            if name in frame:
                allowed |= {f"{v:.2e}" for v in frame[name].dropna()}
    # measured times and time ratios are shown on purpose and may read like a value (1.76)
    for frame in rep.tables.values():
        if "speedup" in frame:
            allowed |= {f"{v:.2f}" for v in frame["speedup"].dropna()}
    allowed |= {fmt.seconds(v).split(" ")[0] for v in (rep.manifest.get("seconds") or {}).values()}
    assert leaks(html, rep.values(), allowed) == []
    assert leaks(to_markdown(report), rep.values(), allowed) == []
    for figure in report.figures():
        assert leaks(" ".join(figure.texts), rep.values(), allowed) == [], figure.name
    estimation = [f for f in report.figures() if f.name.startswith("estimation-")]
    assert all("true value (log; values hidden)" in f.texts for f in estimation)
    assert ">true value</th>" not in html and ">estimate</th>" not in html


def test_audit_kind(model_audit, reproduction, synthetic_run, tmp_path: Path) -> None:
    assert audit_kind(model_audit["folder"]) == "model-audit"
    assert audit_kind(reproduction) == "reproduce"
    with pytest.raises(NotAResultError, match="tuning run, not an audit"):
        audit_kind(synthetic_run["run"])
    with pytest.raises(NotAResultError, match="not an audit result"):
        audit_kind(tmp_path)
    with pytest.raises(NotAResultError, match="no such folder"):
        audit_kind(tmp_path / "missing")
    (tmp_path / "summary.json").write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(NotAResultError):
        audit_kind(tmp_path)
    (tmp_path / "summary.json").write_text('{"kind": "model-audit", ')
    with pytest.raises(NotAResultError, match=r"summary.json cannot be read as JSON \(damaged"):
        audit_kind(tmp_path)
    with pytest.raises(NotAResultError, match="is a file, not a folder; pass an audit result"):
        audit_kind(tmp_path / "summary.json")
