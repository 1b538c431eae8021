"""The audit reports: a detector audit (Audit II) or the reproduction of Wang & Gong (Audit I).

:func:`render_audit_report` looks at the folder to tell which audit wrote it
(:func:`~reports.inputs.audit_kind`), reads it (a detector audit's result is
sealed and needs the key; the reproduction's tables are public) and writes
the HTML page and its Markdown twin. The reports themselves are built in
:mod:`reports.model_audit_report` and :mod:`reports.reproduce_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.inputs import (
    MODEL_AUDIT_VAULT,
    ModelAudit,
    audit_kind,
    read_model_audit,
    read_reproduction,
)
from reports.model_audit_report import build_model_audit_report
from reports.output import ReportPaths, check_writable, report_paths, write_report
from reports.reproduce_report import build_reproduce_report

if TYPE_CHECKING:
    from tuner.vault import KeySource


def render_audit_report(
    result_dir: Path,
    key: KeySource | str | None = None,
    out: Path | None = None,
    redact: bool = False,
) -> ReportPaths:
    """Read an audit result folder and write its HTML report and Markdown twin.

    Args:
        result_dir: A detector audit's folder (``summary.json`` + sealed ``audit.hsv``)
            or a ``hyperseal audit reproduce`` folder (tables + ``manifest.json``).
        key: The detector audit's key (not needed for a reproduction).
        out: The ``.html`` file (default ``report.html``/``report-redacted.html`` inside).
        redact: Leave out every hyperparameter value (and, for a detector audit, exact errors).

    Raises:
        NotAResultError: neither kind of audit folder.
        MissingKeyError: a detector audit and no key.
        ReportOutputError: a file that is not our report is in the way.
        WrongKeyError, TamperedError, ...: the sealed result does not open with ``key``.
    """
    from reports.html import to_html
    from reports.markdown import to_markdown

    result_dir = Path(result_dir)
    paths = report_paths(result_dir, out, redact=redact)
    sealed: dict[str, list[Any]] = {}
    if audit_kind(result_dir) == "model-audit":
        audit = read_model_audit(result_dir, key)
        check_writable(paths)
        report = build_model_audit_report(audit, redact=redact)
        sealed = _sealed(audit)
    else:
        rep = read_reproduction(result_dir)
        check_writable(paths)
        report = build_reproduce_report(rep, redact=redact)
    return write_report(
        paths, to_html(report), to_markdown(report), private=report.private, sealed=sealed
    )


def sealed_result(result_dir: Path) -> Path | None:
    """The sealed file whose key :func:`render_audit_report` needs, or None when none is.

    A detector audit's result is sealed (``audit.hsv``); a reproduction's tables
    are public. None too for a detector audit whose sealed file is missing:
    reading the folder then says what is missing.

    Raises:
        NotAResultError: neither kind of audit folder.
    """
    result_dir = Path(result_dir)
    if audit_kind(result_dir) != "model-audit":
        return None
    sealed = result_dir / MODEL_AUDIT_VAULT
    return sealed if sealed.is_file() else None


def _sealed(audit: ModelAudit) -> dict[str, list[Any]]:
    """The sealed numbers a redacted report must not print: estimates, interval, truth."""
    r = audit.result
    sealed = {k: [r.get(k)] for k in ("estimate", "plain_estimate", "truth")}
    sealed["interval"] = list(r.get("ci") or [])
    return sealed
