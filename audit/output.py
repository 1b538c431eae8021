"""Result folders of ``hyperseal audit reproduce`` and ``audit model``, checked before the work.

The check is :func:`tuner.outputs.check_output_folder` (nothing is left
behind), raising the audit's own :class:`AuditOptionError` (exit 29).
"""

from __future__ import annotations

from pathlib import Path

from audit.errors import AuditOptionError
from tuner.outputs import check_output_folder as _check
from tuner.outputs import remove_earlier_reports

__all__ = ["check_output_folder", "remove_earlier_reports"]

#: How to go on when the results folder already holds files.
NOT_EMPTY_HINT = (
    "pass --force to write into it (files of the same names are replaced) or choose another folder"
)


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
    hint = None if force else NOT_EMPTY_HINT
    _check(folder, option, if_not_empty=hint, error=AuditOptionError)
