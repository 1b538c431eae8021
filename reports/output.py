"""Where reports go, and writing them without clobbering anything that is not ours.

A report is two files: ``NAME.html`` and its Markdown twin ``NAME.md``. By
default they land inside the result folder as ``report.html``/``report.md``
(``report-redacted.*`` with ``--redact``). A file already at either path is
replaced only when it carries our generator mark (a report we wrote
earlier); anything else, or a symbolic link, stops the write. Files are
written atomically; reports that show hyperparameter values get mode 0600.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.errors import ReportOutputError
from tuner.outputs import DEFAULT_STEM, REDACTED_STEM, is_our_report


@dataclass(frozen=True)
class ReportPaths:
    """The two files of a written report; ``private`` when they show secret values (mode 0600)."""

    html: Path
    markdown: Path
    private: bool = False


def report_paths(folder: Path, out: Path | None = None, *, redact: bool = False) -> ReportPaths:
    """Where a report goes: ``out`` (an ``.html`` path) or the default name inside ``folder``.

    Raises:
        ReportOutputError: ``out`` does not end in ``.html`` or names a folder.
    """
    if out is None:
        stem = REDACTED_STEM if redact else DEFAULT_STEM
        html = Path(folder) / f"{stem}.html"
    else:
        html = Path(out)
        if html.is_dir():
            raise ReportOutputError(f"--out {html} is a folder; name the .html file to write")
        if html.suffix.lower() not in (".html", ".htm"):
            raise ReportOutputError(f"--out {html} must end in .html (the .md twin goes beside it)")
    return ReportPaths(html=html, markdown=html.with_suffix(".md"))


def check_writable(paths: ReportPaths) -> None:
    """Refuse before anything is written when a path holds something that is not our report.

    Raises:
        ReportOutputError: a foreign file, a link or a folder is in the way, or no parent folder.
    """
    for path in (paths.html, paths.markdown):
        if not path.parent.is_dir():
            raise ReportOutputError(f"{path.parent}: no such folder for the report")
        if (path.exists() or path.is_symlink()) and not is_our_report(path):
            raise ReportOutputError(
                f"{path} exists and is not a hyperseal report; move it or pass another --out"
            )


def write_report(
    paths: ReportPaths,
    html: str,
    markdown: str,
    *,
    private: bool,
    sealed: Mapping[str, Iterable[Any]] | None = None,
) -> ReportPaths:
    """Write both files atomically (after :func:`check_writable`).

    Args:
        paths: Where.
        html: The page.
        markdown: Its twin.
        private: Mode 0600 (a report that shows hyperparameter values); else 0644 less umask.
        sealed: For a redacted report, the sealed values it must not print (name -> values);
            one printed in full stops the write (:func:`tuner.plaintext.check_redacted`).

    Raises:
        PlaintextFieldError: a redacted report shows a sealed value (nothing is written).
    """
    check_writable(paths)
    from tuner.plaintext import check_redacted
    from tuner.vault.atomic import atomic_write

    if not private and sealed:
        check_redacted(f"the redacted report {paths.html.name}", (html, markdown), sealed)

    mode = 0o600 if private else 0o644
    for path, text in ((paths.html, html), (paths.markdown, markdown)):
        atomic_write(path, text.encode("utf-8"), mode=mode, error=ReportOutputError)
    return ReportPaths(paths.html, paths.markdown, private)
