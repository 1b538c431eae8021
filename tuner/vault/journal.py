"""The sealed journal: an append-only file of encrypted records (one per finished trial).

Each record is sealed on its own with the whole header and its sequence
number as associated data, so :meth:`SealedJournal.read` detects a record
that was altered, moved, dropped, duplicated or cut short.

The journal proves its own end (format version 2): every frame is followed by
an *end slot*, and the last one holds an authentication tag over the number
of records and a chain digest of every frame before it (as the final tag of
libsodium's secretstream, or the last-chunk flag of age's STREAM). Appending
writes the new frame with its end slot, makes it durable, then overwrites the
previous end slot with zeros; a reader checks only the last one. So a journal
cut at a record boundary ends with a zeroed slot and is refused
(:class:`JournalCutError`), with no plaintext hint involved.

A frame torn by a crash mid-append is reported as
:class:`JournalTornTailError` and dropped only by an explicit
:meth:`SealedJournal.repair`.

Appending, the fsync policy and repair are in :mod:`tuner.vault.journal_append`;
the file's layout in :mod:`tuner.vault.journal_file`; checkpoints, torn tails
and the journal's errors in :mod:`tuner.vault.journal_records`.

What is not detected: replacing the journal by an older copy of itself (a
rollback), which ended with its own valid end. Store a
:meth:`SealedJournal.checkpoint` in the vault (which is rewritten atomically)
and pass it to ``read(expect=...)`` to catch that too; rolling back the vault
with it is out of scope.

Journals of format version 1 (hyperseal 0.1) have no end slots and cannot
prove their end: they are refused with :class:`OldJournalFormatError` and
converted once by :func:`migrate_journal` (``hyperseal vault journal migrate``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tuner.vault import codec
from tuner.vault.atomic import ClosedOnExit, FileLock, atomic_write, create_exclusive, link_target
from tuner.vault.cipher import RecordCipher, new_file, unlock
from tuner.vault.errors import VaultError
from tuner.vault.format import (
    JOURNAL_VERSION,
    FileKind,
    JournalScan,
    encode_frame,
    parse_header,
    scan_journal,
)
from tuner.vault.journal_append import JournalAppender
from tuner.vault.journal_file import chain_of, encode_journal, read_journal
from tuner.vault.journal_records import (
    Completeness,
    JournalCheckpoint,
    TornTail,
    check_checkpoint,
    check_order,
    old_format_error,
)
from tuner.vault.journal_records import frame_digest as _digest
from tuner.vault.kdf import DEFAULT_LIMITS, KdfLimits, ScryptParams
from tuner.vault.keys import KeySource
from tuner.vault.sealed import read_file

PathLike = str | os.PathLike[str]


class SealedJournal(JournalAppender, ClosedOnExit):
    """An open sealed journal. Make one with :meth:`create`, reopen with :meth:`open`.

    A writable journal holds the file's lock until :meth:`close` (or the end
    of a ``with`` block). It can be written with only a
    :class:`~tuner.vault.keys.Recipient`; reading needs a key that can read.

    Example:
        >>> with SealedJournal.create("trials.journal", key) as journal:  # doctest: +SKIP
        ...     journal.append({"trial": 0, "config": {"lr": 0.02}, "map": 0.31})
        >>> SealedJournal.open("trials.journal", key, writable=False).read()  # doctest: +SKIP
        [{'config': {'lr': 0.02}, 'map': 0.31, 'trial': 0}]
    """

    def __init__(
        self,
        path: Path,
        key: KeySource,
        cipher: RecordCipher,
        *,
        limits: KdfLimits,
        fsync: bool,
        lock: FileLock | None,
    ) -> None:
        super().__init__(path, cipher, fsync=fsync, lock=lock)
        self._key = key
        self._limits = limits
        self._read_digests: list[str] = []
        self._completeness: Completeness | None = None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: PathLike,
        key: KeySource,
        *,
        kdf: ScryptParams | None = None,
        limits: KdfLimits = DEFAULT_LIMITS,
        fsync: bool = True,
        lock_timeout: float = 10.0,
    ) -> SealedJournal:
        """Create an empty journal (mode 0600) and open it for appending.

        Args:
            path: the new journal file; must not exist.
            key: passphrase, key file, recipient (write-only) or identity.
            kdf: scrypt cost for a passphrase.
            limits: caps for ``kdf``.
            fsync: fsync after every append (see the module's fsync policy).
            lock_timeout: seconds to wait for another writer.

        Raises:
            VaultError: the file exists or cannot be written.
        """
        target = Path(path)
        cipher = new_file(FileKind.JOURNAL, key, str(target), kdf=kdf, limits=limits)
        lock = FileLock(target, lock_timeout)
        lock.acquire()
        try:
            data = encode_journal(cipher, [])
            create_exclusive(target, data)
            journal = cls(target, key, cipher, limits=limits, fsync=fsync, lock=lock)
            journal._size = len(data)
            journal._end_at = len(cipher.header.raw)
            journal._open_fd()
        except BaseException:
            lock.release()
            raise
        return journal

    @classmethod
    def open(
        cls,
        path: PathLike,
        key: KeySource,
        *,
        writable: bool = True,
        limits: KdfLimits = DEFAULT_LIMITS,
        fsync: bool = True,
        lock_timeout: float = 10.0,
        legacy: bool = False,
    ) -> SealedJournal:
        """Open a journal, for appending (the default, takes the lock) or only to read.

        Opening checks the header, the key and the frame structure; records
        are authenticated by :meth:`read`. A torn tail does not stop the
        open (so that :meth:`repair` can run) but stops :meth:`append` and
        :meth:`read`.

        Args:
            legacy: also open a journal of format 1 (hyperseal 0.1), to migrate it (and
                :meth:`repair` it first); nothing is appended to one. Otherwise such a
                journal raises :class:`OldJournalFormatError`.

        Raises:
            VaultLockedError: writable, and another process is writing.
            JournalOrderError: writable, and the stored sequence numbers are wrong.
            OldJournalFormatError: a format 1 journal (see ``legacy``).
            and the errors of :func:`~tuner.vault.cipher.unlock`.
        """
        target = Path(path)
        where = str(target)
        lock = FileLock(link_target(target), lock_timeout) if writable else None
        if lock is not None:
            lock.acquire()
        try:
            data = read_file(target, "journal")
            header = parse_header(data, FileKind.JOURNAL, where)
            if header.version < JOURNAL_VERSION and not legacy:
                raise old_format_error(where)
            scan = scan_journal(data, header, where)
            cipher = unlock(header, key, where, limits=limits)
            journal = cls(target, key, cipher, limits=limits, fsync=fsync, lock=lock)
            journal._take_scan(data, scan)
            if writable:
                check_order(journal._seqs, where)
                journal._check_end(data, scan)
                journal._open_fd()
                journal._zero_stale_ends(data, scan)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return journal

    def _take_scan(self, data: bytes, scan: JournalScan) -> None:
        frames = scan.frames
        self._count = len(frames)
        self._seqs = [f.seq for f in frames]
        self._size = len(data)
        self._last_digest = _digest(data[frames[-1].offset : frames[-1].end]) if frames else ""
        self._torn = TornTail.at(scan.torn_offset, len(data))
        self._torn_zero = scan.torn_zero
        self._chain = chain_of(self._cipher.header, data, scan)
        self._end_at = scan.ends[-1] if scan.ends else None

    # -- properties -----------------------------------------------------------------------

    @property
    def journal_id(self) -> str:
        """The journal's random file id (hex)."""
        return self._cipher.header.file_id.hex()

    @property
    def version(self) -> int:
        """The journal's format version (1: hyperseal 0.1, opened only to migrate)."""
        return self._cipher.header.version

    @property
    def writable(self) -> bool:
        """Whether :meth:`append` and :meth:`repair` are allowed (and the lock is held)."""
        return self._fd is not None

    @property
    def records(self) -> int:
        """Number of complete records (as of opening plus our appends)."""
        return self._count

    @property
    def torn_tail(self) -> TornTail | None:
        """The incomplete last record found on opening, if any."""
        return self._torn

    @property
    def completeness(self) -> Completeness | None:
        """What the last :meth:`read` proved about the journal's end (None before a read)."""
        return self._completeness

    def checkpoint(self) -> JournalCheckpoint:
        """Where the journal stands now: store it to detect a later rollback of the file."""
        return JournalCheckpoint(self.journal_id, self._count, self._last_digest)

    def check_structure(self) -> None:
        """Check, without decrypting, the sequence numbers and the tail as found on opening.

        All a public key alone can check: records and the journal's end cannot
        be authenticated without a key that reads. :meth:`read` does all of
        this and more.

        Raises:
            JournalOrderError: stored sequence numbers out of order.
            JournalTornTailError: the journal ends with an incomplete record.
        """
        check_order(self._seqs, self._where)
        if self._torn is not None:
            raise self._torn_error(self._torn)

    def __repr__(self) -> str:
        return f"SealedJournal({self._where!r}, {self.key_mode.describe()}, {self._count} records)"

    # -- reading --------------------------------------------------------------------------

    def read(self, *, expect: JournalCheckpoint | None = None) -> list[dict[str, Any]]:
        """Read the file again and return every record, authenticated, in order, complete.

        Args:
            expect: a checkpoint taken earlier; the journal must still hold
                those records (catches a rollback to an older copy of the file).

        Raises:
            KeyKindError: opened with a public key only.
            TamperedError: a record fails authentication.
            JournalCutError: no authenticated end after the last record (records cut off).
            JournalReorderedError, JournalDroppedError, JournalDuplicatedError:
                records out of sequence (or fewer than ``expect`` says).
            JournalTornTailError: every record authenticates but the last is incomplete.
        """
        if not self.can_read:
            raise self._public_key_only()
        found = read_journal(self._cipher, read_file(self.path, "journal"), self._where)
        self._read_digests = found.digests
        self._completeness = found.completeness
        if expect is not None:
            self.check_checkpoint(expect)
        return found.records

    def check_checkpoint(self, expect: JournalCheckpoint) -> None:
        """Check the records of the last :meth:`read` against a checkpoint taken earlier.

        Raises:
            TamperedError: another journal's checkpoint, or a record differs from it.
            JournalDroppedError: fewer records than the checkpoint counted (a rollback).
            VaultError: nothing was read yet.
        """
        if self._completeness is None:
            raise VaultError(
                f"{self._where}: read the journal before checking it against a checkpoint"
            )
        check_checkpoint(self._where, self.journal_id, self._read_digests, expect)

    def resealed(
        self,
        new_key: KeySource,
        *,
        expect: JournalCheckpoint | None = None,
        kdf: ScryptParams | None = None,
    ) -> tuple[bytes, JournalCheckpoint]:
        """This journal's records sealed under ``new_key`` (a fresh data key, the same file id
        and sequence numbers, the newest format): the bytes of the new file and its
        checkpoint. Writes nothing.

        Raises:
            The errors of :meth:`read` (every record is authenticated first), and
            KdfParamsError: ``kdf`` is outside the limits.
        """
        records = self.read(expect=expect)
        file_id = self._cipher.header.file_id
        cipher = new_file(
            FileKind.JOURNAL, new_key, self._where, kdf=kdf, limits=self._limits, file_id=file_id
        )
        frames = [
            encode_frame(seq, cipher.seal(seq, codec.encode_document(record, "journal record")))
            for seq, record in enumerate(records)
        ]
        last = _digest(frames[-1]) if frames else ""
        return encode_journal(cipher, frames), JournalCheckpoint(self.journal_id, len(frames), last)


def migrate_journal(
    path: PathLike,
    key: KeySource,
    *,
    limits: KdfLimits = DEFAULT_LIMITS,
    lock_timeout: float = 10.0,
) -> int | None:
    """Convert a journal of format 1 (hyperseal 0.1) to the newest format, in place, under
    its lock and with the same key; returns its record count, or None if already current.

    The records are authenticated first; what the old journal held is taken as complete
    (format 1 cannot prove it). A journal that belongs to a tuning run is better
    migrated with the run (:func:`tuner.rotate.rotate_run` with the same key), which also
    updates the checkpoint in the run's vault.

    Raises:
        The errors of :meth:`SealedJournal.read` (a torn tail included: nothing is dropped).
    """
    target = link_target(Path(path))
    with FileLock(target, lock_timeout):
        journal = SealedJournal.open(path, key, writable=False, limits=limits, legacy=True)
        try:
            if journal.version >= JOURNAL_VERSION:
                return None
            data, checkpoint = journal.resealed(key, kdf=journal._cipher.header.scrypt)
        finally:
            journal.close()
        atomic_write(target, data)
    return checkpoint.records


__all__ = [
    "Completeness",
    "JournalCheckpoint",
    "SealedJournal",
    "TornTail",
    "encode_journal",
    "migrate_journal",
    "old_format_error",
]
