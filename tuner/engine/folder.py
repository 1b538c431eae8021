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
from typing import TYPE_CHECKING, Any

from tuner.errors import ConfigError

if TYPE_CHECKING:
    from tuner.search.study import StudyResult

RUN_FORMAT = "hyperseal-run/1"
RUN_FILE = "run.json"
JOURNAL_FILE = "journal.hsj"
VAULT_FILE = "vault.hsv"
BEST_DIR = "best"
EXPORT_DIR = "export"


#: The journal's second record: what the run tunes (the built-in trainer, or your own code).
TARGET_RECORDS = ("detector", "objective")


def journal_start(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A run journal's first two records, its ``run`` record (settings and space) and its
    target record; None when the journal does not start like a tuning run's."""
    if len(records) < 2 or records[0].get("type") != "run":
        return None
    if records[1].get("type") not in TARGET_RECORDS:
        return None
    return records[0], records[1]


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


def read_run_info(run_dir: Path) -> dict[str, Any] | None:
    """``RUN_DIR/run.json`` when it is a hyperseal run's (bounded read), else None."""
    info = try_read(Path(run_dir) / RUN_FILE)
    return info if info is not None and info.get("format") == RUN_FORMAT else None


def run_journal(folder: Path) -> Path | None:
    """The sealed journal of the run in ``folder``, or None when ``folder`` holds no
    ``run.json`` and journal (it is not a run folder)."""
    journal = Path(folder) / JOURNAL_FILE
    return journal if (Path(folder) / RUN_FILE).is_file() and journal.is_file() else None


def read_run_file(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/run.json``, checked to be a run's.

    Raises:
        ConfigError: it is missing, unreadable or not a hyperseal run's.
    """
    info = read_run_info(run_dir)
    if info is None:
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
    it (the default), so that a copied or moved run folder keeps using its own
    vault, and absolute otherwise (:func:`stored_vault`).
    """
    stored = info.get("vault")
    if not stored:
        return None
    path = Path(str(stored))
    return path if path.is_absolute() else Path(run_dir) / path


def stored_vault(run_dir: Path, vault: Path) -> dict[str, str]:
    """``vault`` as ``run.json`` stores it: relative to the run folder inside it, else absolute."""
    resolved = Path(vault).resolve()
    try:
        inside = resolved.relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return {"vault": str(resolved)}
    return {"vault": inside, "vault_relative_to": "run"}


def write_run_file(
    run_dir: Path,
    target: Any,
    vault: Path,
    entry: str,
    *,
    status: str,
    summary: dict[str, Any] | None = None,
) -> None:
    """Write ``run.json``: what ``target`` (a run target) tunes, how, where its results
    are, and the run's status. Without ``summary``, the one already there is kept."""
    from tuner.plaintext import allowed_only

    options = target.options
    s = options.settings
    info = {
        "format": RUN_FORMAT,
        "status": status,
        "updated_at": now(),
        **target.describe(),
        "optimizer": s.optimizer,
        "budget": s.budget,
        "epochs": s.max_epochs,
        "pruner": s.pruner,
        "fitness": s.fitness,
        "freeze_unimportant": s.freeze_unimportant,
        "workers": options.workers,
        "executor": options.executor,
        "journal": JOURNAL_FILE,
        **stored_vault(run_dir, vault),
        "entry": entry,
        "best_model": BEST_DIR,
    }
    if s.direction != "maximize":
        info["direction"] = s.direction
    if s.warm_start_runs:  # counts only: the configs are sealed in the journal
        info["warm_start"] = {"configs": len(s.enqueued), "runs": s.warm_start_runs}
    if summary is not None:
        info["summary"] = summary
    else:
        old = try_read(run_dir / RUN_FILE)
        if old and "summary" in old:  # as read back: only the fields hyperseal writes
            info["summary"] = allowed_only(RUN_FILE, {"summary": old["summary"]}).get("summary")
    write_json(run_dir / RUN_FILE, info, RUN_FILE)  # checked: tuner.plaintext


def run_summary(result: StudyResult) -> dict[str, Any]:
    """``run.json``'s summary of a finished search (no hyperparameter value)."""
    from tuner.plaintext import public_metrics
    from tuner.search.trial import masked_reason

    statuses = [t.status for t in result.trials]
    best, default = result.best, result.default_trial
    return {
        "trials": len(result.trials),
        "ok": statuses.count("ok"),
        "pruned": statuses.count("pruned"),
        "failed": statuses.count("failed"),
        "best_trial": best.number if best else None,
        "best_fitness": best.fitness if best else None,
        "best_metrics": public_metrics(best.metrics, best.params) if best else None,
        "default_fitness": default.fitness if default else None,
        "epochs_saved": result.epochs_saved,
        "epochs_run": sum(t.epochs_run for t in result.trials),
        "duplicates_avoided": result.duplicates_avoided,
        "seconds": round(result.seconds, 1),
        "frozen": sorted(result.frozen),
        "importance": (
            result.importance.to_dict("records") if result.importance is not None else None
        ),
        # Masked: the plaintext file must not quote a value (the journal has the whole reason).
        "failures": [
            {"trial": t.number, "error": masked_reason(t.error)} for t in result.trials if t.error
        ],
    }


def write_best_metrics(best_dir: Path, trial: Any) -> None:
    """``best/metrics.json``: the best trial's number, fitness and public metrics."""
    from tuner.plaintext import public_metrics

    metrics = {
        "trial": trial.number,
        "fitness": trial.fitness,
        **public_metrics(trial.metrics, trial.params),
    }
    write_json(best_dir / "metrics.json", metrics, "best metrics.json")


def export_run(run_dir: Path, result: StudyResult) -> Path:
    """Write the best config (YAML) and the trial table (CSV) in plaintext, on request.

    The folder is made 0700 and the files 0600 (atomic writes), as ``hyperseal
    vault export`` writes them.
    """
    import os

    import yaml

    out = run_dir / EXPORT_DIR
    out.mkdir(mode=0o700, exist_ok=True)
    os.chmod(out, 0o700)
    if result.best is not None:
        config = yaml.safe_dump(result.best.params, sort_keys=False)
        write_bytes(out / "best_config.yaml", config.encode("utf-8"))
    table = result.frame().drop(columns=["curve"]).to_csv(index=False)
    write_bytes(out / "trials.csv", table.encode("utf-8"))
    return out
