"""What the ``hyperseal vault`` commands do, as functions a Python caller can use too.

Each function takes ready key sources (no prompts, nothing printed) and
enforces the rules the command line relies on: which inputs an export may
not overwrite, that a tuning run's vault is rotated with its journal, what a
journal's verification and migration check and repair. A *run folder* is a
folder holding ``run.json`` and the run's ``trials.journal``
(:mod:`tuner.engine`); its journal's completeness is checked against the
checkpoint stored in the run's vault.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.vault.errors import JournalTornTailError, VaultError
from tuner.vault.format import KeyMode
from tuner.vault.info import inspect_file
from tuner.vault.journal import SealedJournal, TornTail, migrate_journal
from tuner.vault.keys import KeySource
from tuner.vault.vault import Vault

if TYPE_CHECKING:
    from tuner.rotate import RotatedRun
    from tuner.vault.kdf import ScryptParams

#: Called after a torn last record was dropped: the tail found, and the bytes dropped.
OnRepair = Callable[[TornTail, int], None]


def refuse_existing(path: Path) -> None:
    """Refuse to create a vault where a file (or a link) already is.

    Raises:
        VaultError: ``path`` exists.
    """
    if os.path.lexists(path):
        raise VaultError(f"{path}: file exists; refusing to overwrite it")


def check_stdin_free(vault: Path, passphrase_file: Path | None) -> None:
    """Standard input holds the document to store, so it cannot also give a passphrase-sealed
    vault its passphrase: refuse that before anything is read.

    Raises:
        VaultError: stdin is not a terminal, ``vault`` is sealed with a passphrase, and neither
            ``passphrase_file`` nor ``$HYPERSEAL_PASSPHRASE`` gives it.
    """
    from tuner.vault.cli_keys import PASSPHRASE_ENV, passphrase_from_env

    if sys.stdin.isatty() or passphrase_file is not None or passphrase_from_env() is not None:
        return
    if vault.is_file() and inspect_file(vault).key_mode is KeyMode.PASSPHRASE:
        raise VaultError(
            f"{vault}: standard input holds the config, so it cannot give the passphrase too;"
            f" use --passphrase-file or ${PASSPHRASE_ENV}"
        )


def refuse_overwriting_inputs(out: str, *inputs: Path | None) -> None:
    """Refuse an ``--out`` that is the sealed file being exported or one of its key files
    (the user's default key file included): ``--force`` would replace it with plaintext, and
    the sealed data would be lost.

    Raises:
        VaultError: ``out`` is one of ``inputs``.
    """
    from tuner.keyring import default_key_file

    if out == "-" or not os.path.exists(out):
        return
    for source in (*inputs, default_key_file()):
        if source is not None and os.path.exists(source) and os.path.samefile(out, source):
            raise VaultError(
                f"{out}: is a sealed file or key this export reads; refusing to overwrite it"
                " with plaintext; choose another --out"
            )


def write_plaintext_file(out: Path, text: str, *, force: bool = False) -> None:
    """Write exported plaintext to ``out``, mode 0600 and atomically; replace a file there
    only with ``force``.

    Raises:
        VaultError: ``out`` exists (without ``force``) or cannot be written.
    """
    from tuner.vault.atomic import atomic_write, create_exclusive

    (atomic_write if force else create_exclusive)(out, text.encode("utf-8"))


def exported_entries(vault: Vault, name: str | None = None) -> tuple[Any, str]:
    """What ``export`` writes: entry ``name``'s document, or (no name) a mapping of every
    entry's name to its document; with words for what it is (``entry best``, ``3 entries``).

    Raises:
        EntryNotFoundError: no entry ``name``.
    """
    if name is not None:
        return vault.get(name), f"entry {name}"
    value = {n: vault.get(n) for n in vault.names()}
    return value, f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"


# -- tuning runs ---------------------------------------------------------------------------


def run_journal(folder: Path) -> Path:
    """The journal file of the tuning run in ``folder``."""
    from tuner.engine.folder import JOURNAL_FILE

    return folder / JOURNAL_FILE


def run_journal_beside(vault: Path) -> Path | None:
    """The journal of the tuning run whose folder holds ``vault``, if it is one."""
    from tuner.engine import folder

    return folder.run_journal(vault.parent)


def run_folder(journal: Path) -> Path | None:
    """The tuning run folder whose journal ``journal`` is, if it is one."""
    from tuner.engine.folder import JOURNAL_FILE, RUN_FILE

    folder = journal.parent
    return folder if journal.name == JOURNAL_FILE and (folder / RUN_FILE).exists() else None


def refuse_run_vault(vault: Path) -> None:
    """A tuning run's vault is rotated with its journal (same key), never alone.

    Raises:
        VaultError: ``vault`` lies in a run folder beside the run's journal.
    """
    if run_journal_beside(vault) is not None:
        raise VaultError(
            f"{vault} is the vault of the tuning run {vault.parent}, whose journal is sealed with"
            f" the same key; rotate the run as a whole: hyperseal vault rotate {vault.parent}"
        )


def check_run_key(folder: Path, key: KeySource) -> None:
    """Check that ``key`` opens the journal of the run in ``folder`` (a journal of hyperseal
    0.1 included: rotating the run migrates it), before a new key is asked for."""
    SealedJournal.open(run_journal(folder), key, writable=False, legacy=True).close()


def rotate_vault(
    vault: Path, key: KeySource, new_key: KeySource, *, kdf: ScryptParams | None = None
) -> Vault:
    """Re-encrypt ``vault`` under ``new_key`` with a fresh data key; returns it, opened.

    A run folder is rotated as a whole with :func:`tuner.rotate.rotate_run`.

    Raises:
        VaultError: ``vault`` is a tuning run's vault (:func:`refuse_run_vault`), and the
            errors of :meth:`Vault.open` and :meth:`Vault.rotate`.
    """
    refuse_run_vault(vault)
    opened = Vault.open(vault, key)
    opened.rotate(new_key, kdf=kdf)
    return opened


def describe_run_rotation(folder: Path, done: RotatedRun) -> str:
    """The line ``rotate`` prints for a run folder."""
    how = inspect_file(done.vault).key_mode.describe()
    finished = " (finished the rotation stopped earlier)" if done.completed else ""
    return (
        f"rotated the run {folder}{finished}: {done.vault.name} and {done.journal.name}"
        f" ({done.records} records) now sealed with a {how}"
    )


# -- journals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalVerification:
    """What :func:`verify_journal` found.

    Attributes:
        key_mode: how the journal is sealed.
        records: how many records it holds.
        how: words on what was checked (authenticated and complete, or structure only).
    """

    key_mode: KeyMode
    records: int
    how: str

    def describe(self, journal: Path) -> str:
        """The ``ok: ...`` line of ``hyperseal vault journal verify``."""
        return (
            f"ok: {journal}: journal, {self.key_mode.describe()}, {self.records} records"
            f" ({self.how})"
        )


def verify_journal(
    journal: Path, key: KeySource, *, repair: bool = False, on_repair: OnRepair | None = None
) -> JournalVerification:
    """Authenticate ``journal``'s records and its end (with a key that reads), or check its
    structure (a public key only); with ``repair``, first drop a torn last record left by a
    crash (``on_repair`` hears of it).

    Raises:
        JournalTornTailError: a torn last record, and ``repair`` is false.
        and the errors of :meth:`SealedJournal.read` and :meth:`SealedJournal.repair`.
    """
    opened = SealedJournal.open(journal, key, writable=repair)
    try:
        if opened.can_read:
            records = _read_repairing(opened, repair, on_repair)
            how = f"all authenticated; {journal_completeness(journal, opened, records, key)}"
            return JournalVerification(opened.key_mode, len(records), how)
        if opened.torn_tail is not None and repair:
            _repair(opened, on_repair)
        opened.check_structure()
        how = (
            "structure only: authenticating them, and checking that none was cut off the"
            " end, needs the identity; completeness NOT checked"
        )
        return JournalVerification(opened.key_mode, opened.records, how)
    finally:
        opened.close()


def _read_repairing(
    opened: SealedJournal, repair: bool, on_repair: OnRepair | None
) -> list[dict[str, Any]]:
    try:
        return opened.read()
    except JournalTornTailError:
        if not repair:
            raise
    _repair(opened, on_repair)
    return opened.read()


def _repair(opened: SealedJournal, on_repair: OnRepair | None) -> None:
    torn = opened.torn_tail
    assert torn is not None
    dropped = opened.repair()
    if on_repair is not None:
        on_repair(torn, dropped)


def journal_completeness(
    journal: Path, opened: SealedJournal, records: list[dict[str, Any]], key: KeySource
) -> str:
    """Words on how complete the journal (just read) is shown to be; checks the run's
    checkpoint when the journal belongs to a run (failing closed, as the tuner does).

    Raises:
        TamperedError, JournalDroppedError: the journal does not hold what the checkpoint
            counted (see :meth:`SealedJournal.check_checkpoint`).
    """
    from tuner.engine.checkpoint import find_run_checkpoint

    folder = run_folder(journal)
    if folder is None:
        return (
            "complete: it ends with its authenticated end (a rollback to an older copy of the"
            " file cannot be told without a checkpoint)"
        )
    found = find_run_checkpoint(folder, key, opened.journal_id, records)
    if found.checkpoint is None:
        return (
            f"complete: it ends with its authenticated end; {found.vault.name} holds no"
            " checkpoint of it yet (no session of the run has finished), so a rollback to an"
            " older copy of the file cannot be told"
        )
    opened.check_checkpoint(found.checkpoint)
    return (
        "complete: it ends with its authenticated end and holds the"
        f" {found.checkpoint.records} records the checkpoint in {found.vault.name} counted"
    )


def read_complete_journal(journal: Path, key: KeySource) -> tuple[list[dict[str, Any]], str]:
    """Every record of a complete journal, and words on its completeness (what
    ``journal export`` writes and says).

    Raises:
        The errors of :meth:`SealedJournal.read` and :func:`journal_completeness`.
    """
    opened = SealedJournal.open(journal, key, writable=False)
    try:
        records = opened.read()
        return records, journal_completeness(journal, opened, records, key)
    finally:
        opened.close()


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate_journal_file` did.

    Attributes:
        records: how many records the migrated journal holds.
        vault: the run's vault whose checkpoint was updated too, when the journal is a run's.
    """

    records: int
    vault: Path | None = None


def migrate_journal_file(
    journal: Path, key: KeySource, *, repair: bool = False, on_repair: OnRepair | None = None
) -> Migration | None:
    """Convert a journal of hyperseal 0.1 (format 1) to the current format, with the same key;
    None when it is already current.

    With ``repair``, a torn last record is dropped first (``on_repair`` hears of it). A run's
    journal is migrated with its run (:func:`tuner.rotate.rotate_run`, same key), so that
    the checkpoint in the run's vault is updated too.

    Raises:
        The errors of :func:`~tuner.vault.journal.migrate_journal`.
    """
    folder = run_folder(journal)
    if inspect_file(journal).version >= 2:
        return None
    if repair:
        with SealedJournal.open(journal, key, legacy=True) as opened:
            if opened.torn_tail is not None:
                _repair(opened, on_repair)
    if folder is not None:
        from tuner.rotate import rotate_run

        done = rotate_run(folder, key, key, kdf=inspect_file(journal).kdf)
        return Migration(done.records, done.vault)
    records = migrate_journal(journal, key)
    return None if records is None else Migration(records)


__all__ = [
    "JournalVerification",
    "Migration",
    "OnRepair",
    "check_run_key",
    "check_stdin_free",
    "describe_run_rotation",
    "exported_entries",
    "journal_completeness",
    "migrate_journal_file",
    "read_complete_journal",
    "refuse_existing",
    "refuse_overwriting_inputs",
    "refuse_run_vault",
    "rotate_vault",
    "run_folder",
    "run_journal",
    "run_journal_beside",
    "verify_journal",
]
