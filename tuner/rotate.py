"""Re-seal a tuning run under a new key: its vault and its trial journal together.

A run folder holds two sealed files, ``vault.hsv`` (the best config, and the
checkpoint of the journal) and ``journal.hsj`` (every trial). Rotating only
the vault would leave the history, which gives the recipe away just as well,
under the old key, and the run could no longer be resumed or reported on with
either key alone. :func:`rotate_run` re-seals both, holding the journal's lock
so that no tuning process writes meanwhile:

1. the journal's records are authenticated (against the vault's checkpoint)
   and sealed again under the new key, same file id, into ``journal.hsj.new``;
2. the vault is rewritten under the new key, with the checkpoint of the new
   journal, in one atomic write (the point of no return);
3. ``journal.hsj.new`` is renamed over ``journal.hsj``.

Interrupted after step 2, the run is left with the vault under the new key and
the journal still under the old one, beside the finished new journal; running
:func:`rotate_run` again with the same keys completes step 3. Interrupted
before, it starts again from the old files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tuner.errors import ConfigError
from tuner.vault import KeySource, SealedJournal, Vault, WrongKeyError
from tuner.vault.atomic import FileLock, atomic_write, replace_file
from tuner.vault.kdf import ScryptParams

#: The re-sealed journal, waiting to be renamed over the old one.
PENDING_SUFFIX = ".new"


@dataclass(frozen=True)
class RotatedRun:
    """What :func:`rotate_run` rewrote.

    Attributes:
        vault: The run's vault.
        journal: The run's journal.
        records: Records in the journal.
        entry: The vault entry whose journal checkpoint was updated (None for a run that
            never finished).
        completed: True when this call only finished a rotation interrupted earlier.
    """

    vault: Path
    journal: Path
    records: int
    entry: str | None
    completed: bool = False


def rotate_run(
    run_dir: str | os.PathLike[str],
    key: KeySource,
    new_key: KeySource,
    *,
    kdf: ScryptParams | None = None,
) -> RotatedRun:
    """Re-seal the run in ``run_dir`` (its vault and journal) from ``key`` to ``new_key``.

    Args:
        run_dir: A ``hyperseal tune`` run folder whose vault lies inside it.
        key: The run's key now (must read).
        new_key: Any key: passphrase, key file, identity or public key.
        kdf: scrypt cost for a new passphrase.

    Raises:
        ConfigError: not a run folder, or its vault lies outside it (shared with other
            runs: rotating it would leave their journals behind).
        VaultLockedError: the run is being tuned or resumed.
        and the vault's errors (a wrong key, tampering, a cut journal).
    """
    from tuner.engine.checkpoint import find_run_checkpoint, read_run_info
    from tuner.engine.folder import RUN_FILE, run_journal, run_vault_path

    run_dir = Path(run_dir)
    journal_path = run_journal(run_dir)
    if journal_path is None:
        raise ConfigError(f"{run_dir} is not a tuning run folder (no {RUN_FILE} or journal)")
    pending = journal_path.with_name(journal_path.name + PENDING_SUFFIX)
    with FileLock(journal_path):  # what tune and resume take: no trial is written meanwhile
        if pending.exists():
            named = run_vault_path(run_dir, read_run_info(run_dir))
            finished = None if named is None else _complete(pending, journal_path, named, new_key)
            if finished is not None:
                return finished
            pending.unlink()  # stopped before the vault was rewritten: start again
        # A journal of hyperseal 0.1 is read too: rotating it (to the same key) migrates it.
        journal = SealedJournal.open(journal_path, key, writable=False, legacy=True)
        try:
            found = find_run_checkpoint(run_dir, key, journal.journal_id, journal.read())
            vault_path, entry = found.vault, found.entry
            if vault_path.resolve().parent != run_dir.resolve():
                raise ConfigError(
                    f"{run_dir}: the run's vault {vault_path} lies outside the run folder and may"
                    " hold other runs; rotate that vault with `hyperseal vault rotate VAULT`"
                )
            data, checkpoint = journal.resealed(new_key, expect=found.checkpoint, kdf=kdf)
        finally:
            journal.close()
        vault = Vault.open(vault_path, key)
        atomic_write(pending, data)
        update = None
        if entry is not None:
            update = {entry: {**vault.get(entry), "journal": checkpoint.to_dict()}}
        vault.rotate(new_key, kdf=kdf, update=update)
        _replace(pending, journal_path)
    return RotatedRun(vault_path, journal_path, checkpoint.records, entry)


def _complete(
    pending: Path, journal_path: Path, vault_path: Path, new_key: KeySource
) -> RotatedRun | None:
    """Finish a rotation stopped between the vault's rewrite and the journal's rename;
    None when the vault is not under ``new_key`` yet (it stopped before the rewrite)."""
    from tuner.engine.checkpoint import tuning_result_for

    try:
        vault = Vault.open(vault_path, new_key)
    except WrongKeyError:
        return None
    new = SealedJournal.open(pending, new_key, writable=False)
    try:
        found = tuning_result_for(vault, new.journal_id) if vault.can_read else None
        entry, checkpoint = found if found is not None else (None, None)
        records = len(new.read(expect=checkpoint)) if new.can_read else new.checkpoint().records
    finally:
        new.close()
    _replace(pending, journal_path)
    return RotatedRun(vault_path, journal_path, records, entry, completed=True)


def _replace(pending: Path, journal_path: Path) -> None:
    replace_file(pending, journal_path)
