"""Rendering of tuning and audit reports: reads results, computes nothing new.

Two entry points write a self-contained HTML page and its Markdown twin::

    from reports import render_tune_report, render_audit_report
    from tuner.keyring import default_key_file
    from tuner.vault import KeyFile

    paths = render_tune_report("runs/tune-1", KeyFile(default_key_file()), redact=True)
    print(paths.html, paths.markdown)

``build_*`` functions return the report as data (:class:`Report`) without
writing it; :func:`to_html` and :func:`to_markdown` lay one out, and
``Report.figures()`` lists its plots (each shows itself in Jupyter).
"""

from __future__ import annotations

from reports.audit_report import render_audit_report
from reports.document import Report
from reports.errors import (
    MissingKeyError,
    NotAResultError,
    ReportError,
    ReportOutputError,
    ResultFormatError,
)
from reports.html import to_html
from reports.inputs import (
    ModelAudit,
    Reproduction,
    TuneRun,
    audit_kind,
    read_model_audit,
    read_reproduction,
    read_tune_run,
)
from reports.markdown import to_markdown
from reports.model_audit_report import build_model_audit_report
from reports.output import ReportPaths, report_paths
from reports.reproduce_report import build_reproduce_report
from reports.tune_report import build_tune_report, render_tune_report

__all__ = [
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
