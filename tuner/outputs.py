"""Output folders checked before the work that fills them.

Commands that train or compute for minutes (``train``, ``tune``, ``data
synth``, ``audit reproduce``, ``audit model``) check first that their output
folder can be written, so that a typo, a file in the way, a read-only disk or
an earlier result costs one line and no work, not a traceback after the work.
The check leaves nothing behind: it creates and removes one empty hidden
folder where the output would start (permission bits alone do not tell, e.g.
for root or on a special file system).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tuner.errors import ConfigError, HypersealError

#: The default report names inside a result folder: plain, and ``--redact``'s.
DEFAULT_STEM, REDACTED_STEM = "report", "report-redacted"
#: Written into every report hyperseal makes, and looked for before replacing a file.
GENERATOR_MARK = "hyperseal-report"
_SNIFF_BYTES = 4096


def check_output_folder(
    folder: str | Path,
    option: str = "--out",
    *,
    if_not_empty: str | None = None,
    error: type[HypersealError] = ConfigError,
) -> None:
    """Raise unless ``folder`` is, or can be created as, a folder to write in.

    Nothing is created (the probe is removed again).

    Args:
        folder: The output folder.
        option: What the messages call it (a flag, or words such as ``run folder``).
        if_not_empty: When given, a folder that already holds files is refused and
            the message ends with this hint (e.g. ``pass --force to write into it``).
        error: The error class raised: a bad option value (exit 3) unless a command has
            its own (the audit's, exit 29).

    Raises:
        error: ``folder`` is a file (or lies under one), is a broken link, cannot be
            written (permissions, a read-only disk), or holds files and
            ``if_not_empty`` is given.
    """
    folder = Path(folder)
    existing = _nearest_existing(folder, option, error)
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"lies under {existing}, a file"
        raise error(f"{option} {folder} {where}, not a folder; pick a folder path")
    if if_not_empty is not None and existing == folder and _has_entries(folder, option, error):
        raise error(f"{option} {folder} is not empty; {if_not_empty}")
    try:
        Path(tempfile.mkdtemp(prefix=".hyperseal-check-", dir=existing)).rmdir()
    except OSError as exc:
        raise error(
            f"{option} {folder}: cannot write in {existing} ({exc.strerror or exc});"
            " pick another path"
        ) from None


def _nearest_existing(folder: Path, option: str, error: type[HypersealError]) -> Path:
    """``folder`` or its nearest ancestor that exists (``mkdir -p`` would start there)."""
    current = folder
    while not current.exists():
        if current.is_symlink():  # a dangling link: writing would follow it
            raise error(f"{option} {folder}: {current} is a broken link; pick another path")
        if current.parent == current:
            break
        current = current.parent
    return current


def _has_entries(folder: Path, option: str, error: type[HypersealError]) -> bool:
    try:
        return any(folder.iterdir())
    except OSError as exc:
        raise error(
            f"{option} {folder}: cannot list the folder ({exc.strerror}); pick another path"
        ) from None


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError`` that reached the CLI: the path, the reason, a hint."""
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or type(exc).__name__
    return f"{where}: {reason}; check the path, its permissions and free disk space"


def folder_name(folder: str | Path) -> str:
    """A folder's own name, also when it is given as ``.`` or ``..`` (no symlink followed)."""
    return Path(os.path.abspath(folder)).name


def is_our_report(path: Path) -> bool:
    """True when ``path`` is a regular file (not a link) that we wrote as a report."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return GENERATOR_MARK.encode() in head


def remove_earlier_reports(folder: str | Path) -> list[Path]:
    """Delete the reports of an earlier result in ``folder`` (``report.html``/``.md`` and
    ``report-redacted.*``), which a forced rewrite of the result leaves showing the old numbers.

    Only files hyperseal wrote as reports (their generator mark) are removed. Returns them.
    """
    removed = []
    for stem in (DEFAULT_STEM, REDACTED_STEM):
        for suffix in (".html", ".md"):
            path = Path(folder) / f"{stem}{suffix}"
            if is_our_report(path):
                path.unlink()
                removed.append(path)
    return removed
