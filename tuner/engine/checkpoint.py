"""The checkpoint of a tuning run's journal, kept in the run's vault, found failing closed.

A run's journal proves its own end (:mod:`tuner.vault.journal`); what it cannot
prove alone is that it was not replaced by an older copy of itself. The run's
vault, rewritten atomically at the end of every session, holds a checkpoint of
the journal (its id, record count and last record's digest) for that.

Which vault that is comes from sealed data, not from ``run.json`` (plaintext,
editable): the journal's own settings record names the vault the run was
given (none: the run folder's ``vault.hsv``). ``run.json``'s path is used only
to find a vault given by ``--vault`` again after the folder moved, and then
must name a file of the same name. The vault must exist and open with the
journal's key: a missing vault, one sealed for someone else or under another
key, is an error, never "no checkpoint". Only a vault that opens and holds no
result for this journal yet (a run stopped before its first session ended)
gives no checkpoint.

:func:`load_journal` reads a run's journal that way; :func:`tuning_result_for`
finds the vault entry whose checkpoint names a journal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.bounded import MAX_SUMMARY_BYTES, read_bytes
from tuner.engine.folder import JOURNAL_FILE, RUN_FILE, VAULT_FILE, run_vault_path
from tuner.vault.errors import TamperedError, VaultError, WrongKeyError

if TYPE_CHECKING:
    from tuner.vault import JournalCheckpoint, KeySource, SealedJournal, Vault


@dataclass(frozen=True)
class RunCheckpoint:
    """The run's vault and what it holds about the journal.

    Attributes:
        vault: the run's vault (it exists and opens with the journal's key).
        entry: the vault entry holding the checkpoint, None when there is none yet.
        checkpoint: the checkpoint, None for a run whose first session never finished.
    """

    vault: Path
    entry: str | None
    checkpoint: JournalCheckpoint | None


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of ``run_dir`` (bounded read).

    Raises:
        VaultError: missing, too large, or not a JSON object.
    """
    path = run_dir / RUN_FILE
    raw = read_bytes(path, MAX_SUMMARY_BYTES, "run file", VaultError)
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        info = None
    if not isinstance(info, dict):
        raise VaultError(
            f"{path}: not a readable run file, so the run's vault (which holds the checkpoint of"
            " its journal) cannot be found; restore the run folder from a backup"
        )
    return info


_NOT_SEALED = object()


def _sealed_vault(records: list[dict[str, Any]]) -> Any:
    """The ``vault`` option the journal's settings record holds (None: the default), or
    ``_NOT_SEALED`` when no such record is found."""
    for record in records[:3]:
        options = record.get("options")
        if record.get("type") not in ("detector", "objective") or not isinstance(options, dict):
            continue
        if "vault" in options and (options["vault"] is None or isinstance(options["vault"], str)):
            return options["vault"]
    return _NOT_SEALED


def _run_vault(run_dir: Path, info: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    named = run_vault_path(run_dir, info)
    sealed = _sealed_vault(records)
    if sealed is None:
        return run_dir / VAULT_FILE
    if sealed is _NOT_SEALED:
        if named is None:
            raise VaultError(
                f"{run_dir / RUN_FILE}: names no vault, so the checkpoint of the run's journal"
                " cannot be found; restore the run folder from a backup"
            )
        return named
    if named is None or named.name != Path(sealed).name:
        raise TamperedError(
            f"{run_dir / RUN_FILE}: names the vault {named}, but the run's journal (sealed) was"
            f" given the vault {Path(sealed).name}; run.json was edited; restore it from a backup"
        )
    return named


def _open_vault(vault: Path, key: KeySource, run_dir: Path) -> Vault:
    from tuner.vault import Vault

    if not vault.exists():
        raise VaultError(
            f"{vault}: the vault of the run {run_dir} is missing, and it holds the checkpoint of"
            " the run's journal; restore it (or the whole run folder) from a backup"
        )
    try:
        opened = Vault.open(vault, key)
        opened.names()  # a public key alone cannot read the checkpoint
    except WrongKeyError:
        raise WrongKeyError(
            f"{vault}: the vault of the run {run_dir} does not open with the key of its journal"
            " (sealed for someone else, or replaced), so the journal cannot be checked against"
            " its checkpoint; restore the run's own vault"
        ) from None
    return opened


def find_run_checkpoint(
    run_dir: Path, key: KeySource, journal_id: str, records: list[dict[str, Any]]
) -> RunCheckpoint:
    """The run's vault and the checkpoint it holds of journal ``journal_id``.

    Args:
        run_dir: the run folder.
        key: the journal's key (one that reads).
        journal_id: the journal's file id (hex).
        records: the journal's records, as read (the settings record names the vault).

    Raises:
        VaultError: ``run.json`` unreadable or naming no vault; the vault missing.
        TamperedError: ``run.json`` names another vault than the sealed settings.
        WrongKeyError: the vault does not open with ``key``.
        and the vault's errors (a damaged or tampered vault).
    """
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    vault = _run_vault(run_dir, info, records)
    opened = _open_vault(vault, key, run_dir)
    found = tuning_result_for(opened, journal_id, first=str(info.get("entry") or ""))
    if found is None:
        return RunCheckpoint(vault, None, None)
    return RunCheckpoint(vault, found[0], found[1])


def read_run_journal(journal: SealedJournal, run_dir: Path, key: KeySource) -> list[dict[str, Any]]:
    """Every record of a run's journal: authenticated, ending with its authenticated end, and
    holding at least what the checkpoint in the run's vault counted.

    Raises:
        The errors of :meth:`SealedJournal.read` and :func:`find_run_checkpoint`, and
        JournalDroppedError: the journal was replaced by an older copy of itself.
    """
    records = journal.read()
    found = find_run_checkpoint(run_dir, key, journal.journal_id, records)
    if found.checkpoint is not None:
        journal.check_checkpoint(found.checkpoint)
    return records


def load_journal(run_dir: Path, key: KeySource) -> list[dict[str, Any]]:
    """Every record of a run's sealed journal (settings, space, objective, trials, freezes).

    The journal must end with its authenticated end, and hold every record the
    checkpoint in the run's vault counted (which fails closed on a missing or
    foreign vault).
    """
    from tuner.vault import SealedJournal

    run_dir = Path(run_dir)
    journal = SealedJournal.open(run_dir / JOURNAL_FILE, key, writable=False)
    try:
        return read_run_journal(journal, run_dir, key)
    finally:
        journal.close()


def tuning_result_for(vault: Any, journal_id: str, *, first: str = "") -> Any:
    """``(entry, checkpoint)`` of the tuning result in ``vault`` (open, readable) whose
    journal checkpoint names journal ``journal_id``, or None; entry ``first`` is tried first.

    Raises:
        WrongKeyError: the vault was opened with a key that cannot read.
    """
    from tuner.vault import DocumentError, JournalCheckpoint

    for name in sorted(vault.names(), key=lambda n: n != first):
        document = vault.get(name)
        if not isinstance(document, dict) or document.get("kind") != "tuning-result":
            continue
        try:
            checkpoint = JournalCheckpoint.from_dict(document.get("journal"))
        except DocumentError:
            continue
        if checkpoint.journal_id == journal_id:
            return name, checkpoint
    return None
