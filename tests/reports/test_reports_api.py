"""The public API, the page's safety properties, and the formatting rules redaction relies on."""

from __future__ import annotations

import re

import pytest

import reports
from reports import formatting as fmt
from reports import to_html, to_markdown
from reports.document import Card, Cards, Facts, Figure, Note, Report, Section, Table
from reports.errors import (
    MissingKeyError,
    NotAResultError,
    ReportError,
    ReportOutputError,
    ResultFormatError,
)
from reports.output import report_paths
from tuner.errors import HypersealError


def test_exported_members() -> None:
    assert reports.__all__ == [
        "MissingKeyError",
        "ModelAudit",
        "NotAResultError",
        "Report",
        "ReportError",
        "ReportOutputError",
        "ReportPaths",
        "Reproduction",
        "ResultFormatError",
        "TuneRun",
        "audit_kind",
        "build_model_audit_report",
        "build_reproduce_report",
        "build_tune_report",
        "read_model_audit",
        "read_reproduction",
        "read_tune_run",
        "render_audit_report",
        "render_tune_report",
        "report_paths",
        "to_html",
        "to_markdown",
    ]
    assert all(hasattr(reports, name) for name in reports.__all__)


def test_error_codes_are_distinct_and_in_range() -> None:
    errors = [ReportError, NotAResultError, ResultFormatError, ReportOutputError, MissingKeyError]
    codes = [e.exit_code for e in errors]
    assert len(set(codes)) == len(codes) and all(30 <= c <= 39 for c in codes)
    assert all(issubclass(e, HypersealError) for e in errors)


def _tiny(text: str) -> Report:
    figure = Figure(uri="data:image/png;base64,AAAA", alt=text, caption=text, name="f")
    section = Section("s", text).add(
        Note(text),
        Note(text, "warn"),
        Facts(((text, text),)),
        Cards((Card(text, text, text),)),
        Table((text, "n"), ((text, "1"),), numeric=frozenset({1}), caption=text),
        figure,
    )
    return Report("tune", text, text, False, Note(text), [section], text)


def test_every_text_is_escaped_and_the_page_cannot_reach_out() -> None:
    hostile = '<script>alert("x")</script><img src=https://evil.example/a.png>'
    html = to_html(_tiny(hostile))
    assert "<script" not in html and "evil.example/a.png>" not in html
    assert "&lt;script&gt;" in html
    assert re.search(r"<img [^>]*src=\"https?:", html) is None
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1) and "img-src data:" in csp.group(1)
    assert "script-src" not in csp.group(1)  # no script may run at all


def test_markdown_escapes_table_cells_and_links() -> None:
    md = to_markdown(_tiny("a|b [x](y) <b>"))
    assert "a\\|b \\[x\\](y) \\<b\\>" in md
    assert "| a\\|b \\[x\\](y) \\<b\\> | 1 |" in md
    assert md.rstrip().endswith("[f]: data:image/png;base64,AAAA")


def test_scrub_masks_values_and_numbers() -> None:
    reason = "ValueError: Invalid learning rate: 0.312457 (momentum=0.9, schedule=cosine)"
    masked = fmt.scrub(reason, [0.312457, 0.9, "cosine"])
    assert "0.312457" not in masked and "0.9" not in masked and "cosine" not in masked
    assert masked.startswith("ValueError: Invalid learning rate: …")
    assert fmt.scrub("CUDA out of memory. Tried to allocate 20.00 MiB", []) == (
        "CUDA out of memory. Tried to allocate … MiB"
    )


@pytest.mark.parametrize(
    ("log10_error", "relative", "band"),
    [
        (0.01, None, "within 5%"),
        (0.05, None, "within 25%"),
        (0.2, None, "within 2×"),
        (0.9, None, "within 10×"),
        (1.7, None, "more than 10× off"),
        (None, 0.2, "within 25%"),
        (None, None, "unknown"),
    ],
)
def test_error_bands(log10_error, relative, band) -> None:
    assert fmt.error_category(log10_error, relative) == band


def test_fixed_width_scores() -> None:
    assert fmt.score(0.5) == "0.5000" and fmt.score(float("nan")) == "–"
    assert fmt.importance(0.25) == "0.250" and fmt.signed(0.01) == "+0.0100"
    assert fmt.seconds(5) == "5.0 s" and fmt.seconds(125) == "2 min 05 s"
    assert fmt.seconds(3725) == "1 h 02 min"


def test_report_paths(tmp_path) -> None:
    assert report_paths(tmp_path).html == tmp_path / "report.html"
    assert report_paths(tmp_path, redact=True).markdown == tmp_path / "report-redacted.md"
    paths = report_paths(tmp_path, tmp_path / "x" / "share.html")
    assert paths.markdown == tmp_path / "x" / "share.md"
    with pytest.raises(ReportOutputError, match=r"must end in \.html"):
        report_paths(tmp_path, tmp_path / "share.txt")
    with pytest.raises(ReportOutputError, match="is a folder"):
        report_paths(tmp_path, tmp_path)
