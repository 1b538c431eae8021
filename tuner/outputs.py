"""Output folders checked before the work that fills them.

A command that trains or computes for minutes checks first that its output
folder can be written, so that a typo or a read-only disk costs one line and
no work, not a traceback after the work.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuner.errors import OutputError


def check_output_folder(folder: Path, option: str = "--out") -> None:
    """Raise unless ``folder`` is, or can be created as, a folder this process can write in.

    Nothing is created. ``option`` names the flag in the message.

    Raises:
        OutputError: ``folder`` (or a parent) is a file, or the nearest existing
            folder above it cannot be written (permissions, a read-only disk).
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        if existing.is_symlink():  # a dangling link: writing would follow it
            raise OutputError(f"{option} {folder}: {existing} is a broken link; pick another path")
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is under {existing}, a file"
        raise OutputError(f"{option} {folder} {where}, not a folder; pick a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            f"{option} {folder}: cannot write in {existing} (read-only or no permission);"
            " pick another path"
        )


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError`` that reached the CLI: the path, the reason, a hint."""
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or type(exc).__name__
    return f"{where}: {reason}; check the path, its permissions and free disk space"
