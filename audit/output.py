"""Result folders checked before the work that fills them.

``hyperseal audit reproduce`` and ``hyperseal audit model`` compute for
seconds to minutes before they write. :func:`check_output_folder` runs first:
a typo, a file in the way, a read-only disk or an earlier result costs one
line and no work. The check leaves nothing behind: it creates and removes
one empty hidden folder where the results would start (permission bits alone
do not tell, e.g. for root or on a special file system).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from audit.errors import AuditOptionError

__all__ = ["check_output_folder"]


def check_output_folder(folder: str | Path, *, force: bool = False, option: str = "--out") -> None:
    """Raise unless ``folder`` is, or can be created as, a folder to write results in.

    Args:
        folder: The results folder.
        force: Accept a folder that already holds files (files of the same
            names are then replaced).
        option: The flag named in messages.

    Raises:
        AuditOptionError: ``folder`` is a file (or lies under one), is a broken
            link, cannot be written (permissions, a read-only disk), or is not
            empty and ``force`` is false.
    """
    folder = Path(folder)
    existing = _nearest_existing(folder, option)
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"lies under {existing}, a file"
        raise AuditOptionError(f"{option} {folder} {where}, not a folder; choose a folder path")
    if existing == folder and not force and _has_entries(folder, option):
        raise AuditOptionError(
            f"{option} {folder} is not empty; pass --force to write into it (files of the "
            "same names are replaced) or choose another folder"
        )
    _probe(existing, folder, option)


def _nearest_existing(folder: Path, option: str) -> Path:
    """``folder`` or its nearest ancestor that exists (``mkdir -p`` would start there)."""
    current = folder
    while not current.exists():
        if current.is_symlink():
            raise AuditOptionError(
                f"{option} {folder}: {current} is a broken link; choose another folder"
            )
        if current.parent == current:
            break
        current = current.parent
    return current


def _has_entries(folder: Path, option: str) -> bool:
    try:
        return any(folder.iterdir())
    except OSError as exc:
        raise AuditOptionError(
            f"{option} {folder}: cannot list the folder ({exc.strerror}); choose another folder"
        ) from None


def _probe(existing: Path, folder: Path, option: str) -> None:
    """Create and remove an empty hidden folder in ``existing``: can results go there?"""
    try:
        Path(tempfile.mkdtemp(prefix=".hyperseal-check-", dir=existing)).rmdir()
    except OSError as exc:
        raise AuditOptionError(
            f"{option} {folder}: cannot write in {existing} ({exc.strerror or exc}); "
            "choose another folder"
        ) from None
