"""The run folder: its layout, ``run.json`` and the status a run is in.

A run folder holds::

    RUN_DIR/
      run.json            what was run (objective, optimizer, budget) and a summary
                          (counts, best and default fitness, importances); never a
                          hyperparameter value
      journal.hsj         sealed journal: the run's settings and search space, the
                          objective, then one record per finished trial (and freezes)
      vault.hsv           sealed vault (unless --vault names another): the best
                          config, its metrics, the artifacts' hashes, a journal checkpoint
      best/               the best trial's artifacts (a detector's weights.safetensors +
                          manifest.json) and metrics.json
      export/             only on request: best_config.yaml and trials.csv, plaintext

Every file here is written through :func:`tuner.vault.atomic.atomic_write` (mode 0600).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tuner.errors import ConfigError

RUN_FORMAT = "hyperseal-run/1"
RUN_FILE = "run.json"
JOURNAL_FILE = "journal.hsj"
VAULT_FILE = "vault.hsv"
BEST_DIR = "best"
EXPORT_DIR = "export"


def new_run_dir(root: Path = Path("runs")) -> Path:
    """A fresh run folder name under ``root`` (``tune-YYYYmmdd-HHMMSS``)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = root / f"tune-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"tune-{stamp}-{n}"
    return path


def check_run_dir(run_dir: Path) -> None:
    """Check that ``run_dir`` can hold a new run: an empty folder, or one that can be created.

    Raises:
        ConfigError: it is a file, holds files, or cannot be created or written.
    """
    from tuner.outputs import check_output_folder

    check_output_folder(
        run_dir, "run folder", if_not_empty="pick a new --out or continue it with --resume"
    )


@contextmanager
def created_run_dir(run_dir: Path) -> Iterator[None]:
    """Create ``run_dir`` (and missing parents); remove those still empty if an error escapes."""
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]  # deepest first
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the run folder {run_dir} ({exc.strerror}); pick another --out"
        ) from None
    try:
        yield
    except BaseException:
        for folder in created:
            with suppress(OSError):
                folder.rmdir()  # only an empty one: nothing written is removed
        raise


def write_json(path: Path, data: dict[str, Any], kind: str | None = None) -> None:
    """Write ``data`` as indented JSON through the project's one atomic writer.

    ``kind`` (``run.json``, ``best metrics.json``) names the plaintext allow-list the
    fields are checked against (:mod:`tuner.plaintext`); every file of a run passes one.
    """
    from tuner import plaintext

    if kind is not None:
        write_bytes(path, plaintext.dumps(kind, data))
    else:
        write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (fresh 0600 temp file, fsync, rename)."""
    from tuner.errors import OutputError
    from tuner.vault.atomic import atomic_write

    atomic_write(path, data, error=OutputError)


def try_read(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing, unreadable, not an object, or
    not a regular file of at most ``MAX_SUMMARY_BYTES`` (checked before it is read)."""
    from tuner.bounded import MAX_SUMMARY_BYTES, read_json_quietly

    data = read_json_quietly(path, MAX_SUMMARY_BYTES)
    return data if isinstance(data, dict) else None


def read_run_file(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/run.json``, checked to be a run's.

    Raises:
        ConfigError: it is missing, unreadable or not a hyperseal run's.
    """
    info = try_read(Path(run_dir) / RUN_FILE)
    if info is None or info.get("format") != RUN_FORMAT:
        raise ConfigError(
            f"{run_dir} is not a hyperseal tuning run ({RUN_FILE} missing or unreadable)"
        )
    return info


def set_status(run_dir: Path, status: str) -> None:
    """Set ``run.json``'s status (``running``, ``interrupted``, ``finished``), if it exists."""
    info = try_read(Path(run_dir) / RUN_FILE)
    if info:
        from tuner.plaintext import allowed_only

        info["status"] = status
        # as read back: fields hyperseal did not write there are dropped, never refused
        write_json(Path(run_dir) / RUN_FILE, allowed_only(RUN_FILE, info), RUN_FILE)


def now() -> str:
    """The time in UTC, as ``run.json`` and the vault record it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_vault_path(run_dir: Path, info: dict[str, Any]) -> Path | None:
    """The vault a run's ``run.json`` (``info``) names, or None when it names none.

    ``run.json`` stores the vault relative to the run folder when it lies inside
    it (the default; marked by ``vault_relative_to``), so that a copied or moved
    run folder keeps using its own vault, and absolute otherwise. Older files
    stored a path relative to the directory the run started in: such a path is
    read in that old meaning, except that a run folder holding the default
    vault file uses its own (so resuming a copy never writes into the original's
    vault).
    """
    stored = info.get("vault")
    if not stored:
        return None
    path, run_dir = Path(str(stored)), Path(run_dir)
    if info.get("vault_relative_to") == "run" and not path.is_absolute():
        return run_dir / path
    own = run_dir / VAULT_FILE
    if path.name == VAULT_FILE and own.exists():
        return own  # an older run.json naming the run's default vault by another route
    return path


def stored_vault(run_dir: Path, vault: Path) -> dict[str, str]:
    """``vault`` as ``run.json`` stores it: relative to the run folder inside it, else absolute."""
    resolved = Path(vault).resolve()
    try:
        inside = resolved.relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return {"vault": str(resolved)}
    return {"vault": inside, "vault_relative_to": "run"}
