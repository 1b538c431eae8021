"""Private working folders of trials: one per trial, removed afterwards, swept if orphaned.

A folder is ``$TMPDIR/hyperseal-trial-<pid>-<trial>-<random>`` (mode 0700), where
``pid`` is the process that made it. A process killed outright (SIGKILL) cannot
remove its folder, which may hold the trial's config in plaintext; so each new
folder first sweeps away those of this user whose process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "hyperseal-trial-"
_NAME = re.compile(rf"{PREFIX}(\d+)-\d+-")


def new_trial_dir(number: int) -> Path:
    """A fresh private folder for trial ``number`` (orphaned ones are removed first)."""
    sweep_orphans()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{number}-"))


def remove(folder: Path) -> None:
    """Remove a trial's folder and everything in it."""
    shutil.rmtree(folder, ignore_errors=True)


def sweep_orphans(root: Path | None = None) -> list[Path]:
    """Remove trial folders in ``root`` (default ``$TMPDIR``) owned by this user whose
    process no longer runs; returns those removed."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        if not _alive(int(match.group(1))):
            remove(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
