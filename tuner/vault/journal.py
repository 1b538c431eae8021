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
:meth:`SealedJournal.repair`, and only when the record before it still holds
the journal's authenticated end: a cut in the middle of the file, or zero
bytes over complete records, is tampering and is never repaired away.

Durability (the fsync policy): :meth:`SealedJournal.append` writes the frame
and its end slot with one ``pwrite`` and, by default (``fsync=True``), fsyncs
it before returning, so a returned append survives a power cut. With
``fsync=False`` the operating system decides when the data reaches the disk,
and the previous end slot is zeroed only at :meth:`SealedJournal.sync` or
:meth:`SealedJournal.close`, after an fsync; a crash may then lose the latest
records (the journal then ends at an older authenticated end) or leave a torn
tail, never a record that reads back wrong.

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

import contextlib
import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tuner.vault import codec
from tuner.vault.atomic import FileLock, atomic_write, create_exclusive, link_target
from tuner.vault.cipher import RecordCipher, new_file, unlock
from tuner.vault.errors import (
    DocumentError,
    JournalCutError,
    JournalDroppedError,
    JournalDuplicatedError,
    JournalReorderedError,
    JournalTornTailError,
    KeyKindError,
    OldJournalFormatError,
    TamperedError,
    VaultError,
)
from tuner.vault.format import (
    JOURNAL_VERSION,
    FileKind,
    Header,
    JournalScan,
    KeyMode,
    chain_next,
    chain_start,
    encode_frame,
    end_aad,
    end_length,
    parse_header,
    scan_journal,
)
from tuner.vault.kdf import DEFAULT_LIMITS, KdfLimits, ScryptParams
from tuner.vault.keys import KeySource
from tuner.vault.vault import read_file

PathLike = str | os.PathLike[str]


def _digest(frame: bytes) -> str:
    return hashlib.sha256(frame).hexdigest()[:32]


@dataclass(frozen=True)
class JournalCheckpoint:
    """How far a journal had got: store it in the vault, check it on read.

    Attributes:
        journal_id: the journal's file id (hex).
        records: how many records it had.
        last_digest: SHA-256 (first 16 bytes, hex) of the last of those records' frame,
            ``""`` when there were none.
    """

    journal_id: str
    records: int
    last_digest: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (to store in a vault entry)."""
        return {"journal_id": self.journal_id, "records": self.records, "last": self.last_digest}

    @classmethod
    def from_dict(cls, value: Any) -> JournalCheckpoint:
        """Inverse of :meth:`to_dict`.

        Raises:
            DocumentError: not a checkpoint.
        """
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("journal_id"), str)
            or not isinstance(value.get("records"), int)
            or not isinstance(value.get("last"), str)
            or value["records"] < 0
        ):
            raise DocumentError("not a journal checkpoint (journal_id, records, last)")
        return cls(value["journal_id"], value["records"], value["last"])


@dataclass(frozen=True)
class Completeness:
    """What the last :meth:`SealedJournal.read` could tell about the journal's end.

    Attributes:
        records: records read.
        proven: the journal ends with its authenticated end (format 2), so no record
            was cut off its end (a rollback to an older copy aside).
        detail: words for people.
    """

    records: int
    proven: bool
    detail: str


def old_format_error(where: str) -> OldJournalFormatError:
    """The one-line message for a journal of hyperseal 0.1 (format 1)."""
    return OldJournalFormatError(
        f"{where}: journal of format 1 (hyperseal 0.1), which cannot prove that no record was"
        f" cut off its end; convert it once with `hyperseal vault journal migrate {where}`"
    )


@dataclass(frozen=True)
class TornTail:
    """An incomplete record at the end of a journal.

    Attributes:
        offset: where it starts (the size the journal has after repair).
        size: how many bytes it spans.
    """

    offset: int
    size: int


def _check_order(seqs: list[int], where: str) -> None:
    seen: set[int] = set()
    for position, seq in enumerate(seqs):
        if seq in seen:
            raise JournalDuplicatedError(
                f"{where}: record {seq} appears twice (at position {position}); the journal was"
                " tampered with; restore it from a backup"
            )
        seen.add(seq)
    for position, seq in enumerate(seqs):
        if seq != position:
            if seqs != sorted(seqs) and sorted(seqs) == list(range(len(seqs))):
                raise JournalReorderedError(
                    f"{where}: records are out of order (record {seq} at position {position});"
                    " the journal was tampered with; restore it from a backup"
                )
            raise JournalDroppedError(
                f"{where}: record {position} is missing (next is {seq}); the journal was"
                " tampered with; restore it from a backup"
            )


class SealedJournal:
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
        self.path = path
        self._where = str(path)
        self._key = key
        self._cipher = cipher
        self._limits = limits
        self._fsync = fsync
        self._lock = lock
        self._fd: int | None = None
        self._mutex = threading.Lock()
        self._count = 0
        self._seqs: list[int] = []
        self._size = 0
        self._last_digest = ""
        self._torn: TornTail | None = None
        self._torn_zero = False
        self._chain = chain_start(cipher.header)
        self._end_at: int | None = None  # offset of the end slot that counts (format 2)
        self._stale_ends: list[int] = []  # end slots to zero once the data is durable
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
                _check_order(journal._seqs, where)
                journal._check_end(data, scan)
                journal._open_fd()
                journal._zero_stale_ends(data, scan)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return journal

    def _open_fd(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise VaultError(f"{self._where}: cannot open for appending ({exc.strerror})") from None

    def _take_scan(self, data: bytes, scan: JournalScan) -> None:
        frames = scan.frames
        self._count = len(frames)
        self._seqs = [f.seq for f in frames]
        self._size = len(data)
        self._last_digest = _digest(data[frames[-1].offset : frames[-1].end]) if frames else ""
        torn = scan.torn_offset
        self._torn = None if torn is None else TornTail(torn, len(data) - torn)
        self._torn_zero = scan.torn_zero
        chain = chain_start(self._cipher.header)
        for frame in frames:
            chain = chain_next(chain, data[frame.offset : frame.end])
        self._chain = chain
        self._end_at = scan.ends[-1] if scan.ends else None

    def _check_end(self, data: bytes, scan: JournalScan) -> None:
        """Before appending, a key that reads checks the journal's end (one AEAD, no record
        decrypted), so that nobody appends after a cut and makes it look whole again."""
        if not self.can_read or self._torn is not None or not scan.end_len:
            return  # a torn tail is checked by repair(); a public key cannot check
        aad = end_aad(self._cipher.header, self._count, self._chain)
        if not self._cipher.open_end(scan.end_slot(data), aad):
            raise self._cut_error(self._count, None, False)

    def _zero_stale_ends(self, data: bytes, scan: JournalScan) -> None:
        """Zero every end slot but the last still holding a tag (a crash between an append and
        its zeroing leaves one), so that cutting the file there cannot pass as its end."""
        zeros = bytes(scan.end_len)
        self._stale_ends = [at for at in scan.ends[:-1] if data[at : at + scan.end_len] != zeros]
        if self._stale_ends and self._torn is None:  # with a torn tail: after repair()
            with self._mutex:
                self._flush_stale_ends(self._require_writable(), durable=True)

    # -- properties -----------------------------------------------------------------------

    @property
    def journal_id(self) -> str:
        """The journal's random file id (hex)."""
        return self._cipher.header.file_id.hex()

    @property
    def key_mode(self) -> KeyMode:
        """How this journal's keys are protected."""
        return self._cipher.header.mode

    @property
    def version(self) -> int:
        """The journal's format version (1: hyperseal 0.1, opened only to migrate)."""
        return self._cipher.header.version

    @property
    def can_read(self) -> bool:
        """False when opened with only a public key."""
        return self._cipher.can_read

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

    # -- writing --------------------------------------------------------------------------

    def _require_writable(self) -> int:
        if self._fd is None:
            raise VaultError(
                f"{self._where}: journal is not open for writing (closed or read-only)"
            )
        return self._fd

    def _torn_error(self, torn: TornTail) -> JournalTornTailError:
        command = "verify" if self._end_at is not None else "migrate"  # format 1: migrate
        return JournalTornTailError(
            f"{self._where}: last record is incomplete ({torn.size} bytes at byte {torn.offset}),"
            " as a crash mid-append leaves it; drop it with"
            f" `hyperseal vault journal {command} {self._where} --repair`",
            offset=torn.offset,
            torn_bytes=torn.size,
        )

    def _cut_error(self, count: int, torn: TornTail | None, zero: bool) -> JournalCutError:
        after = f"after record {count - 1}" if count else "after its header"
        if torn is not None and zero:
            what = (
                f"{torn.size} zero bytes at byte {torn.offset} cover records that were complete"
                f" (the record before them was not the last)"
            )
        elif torn is not None:
            what = (
                f"it is cut inside a record at byte {torn.offset} that was not the last one written"
            )
        else:
            what = f"it has no authenticated end {after}: records were cut off its end (or altered)"
        return JournalCutError(
            f"{self._where}: {what}; the journal was tampered with (or damaged), not torn by a"
            " crash; restore it from a backup"
        )

    def check_structure(self) -> None:
        """Check, without decrypting, the sequence numbers and the tail as found on opening.

        All a public key alone can check: records and the journal's end cannot
        be authenticated without a key that reads. :meth:`read` does all of
        this and more.

        Raises:
            JournalOrderError: stored sequence numbers out of order.
            JournalTornTailError: the journal ends with an incomplete record.
        """
        _check_order(self._seqs, self._where)
        if self._torn is not None:
            raise self._torn_error(self._torn)

    def append(self, record: Mapping[str, Any]) -> int:
        """Seal and append one record; returns its sequence number.

        The frame and its end slot go in one write (fsynced by default); then the
        previous end slot is zeroed, so the journal's end moves to the new record.

        Args:
            record: a JSON-serialisable mapping.

        Raises:
            DocumentError: ``record`` cannot be stored.
            JournalTornTailError: the journal has a torn tail; :meth:`repair` first.
            VaultError: not writable, or the write failed.
        """
        payload = codec.encode_document(record, "journal record")
        with self._mutex:
            fd = self._require_writable()
            if self._torn is not None:
                raise self._torn_error(self._torn)
            if self._end_at is None:
                raise old_format_error(self._where)
            seq = self._count
            header = self._cipher.header
            frame = encode_frame(seq, self._cipher.seal(seq, payload))
            chain = chain_next(self._chain, frame)
            end = self._cipher.seal_end(end_aad(header, seq + 1, chain))
            try:
                _pwrite_all(fd, frame + end, self._size)
                if self._fsync:
                    os.fsync(fd)
            except OSError as exc:
                self._cut_failed_append(fd)
                raise VaultError(
                    f"{self._where}: append failed ({exc.strerror}); earlier records are intact"
                ) from None
            if self._end_at is not None:
                self._stale_ends.append(self._end_at)
            self._end_at = self._size + len(frame)
            self._count += 1
            self._seqs.append(seq)
            self._size += len(frame) + len(end)
            self._last_digest = _digest(frame)
            self._chain = chain
            if self._fsync:
                self._flush_stale_ends(fd, durable=False)
            return seq

    def _flush_stale_ends(self, fd: int, *, durable: bool) -> None:
        """Zero the end slots that no longer end the journal (the data after them is durable).

        A failure only leaves a stale slot, which the next writer zeroes; never an error."""
        zeros = bytes(end_length(self._cipher.header))
        try:
            for at in self._stale_ends:
                _pwrite_all(fd, zeros, at)
            if durable and self._stale_ends:
                os.fsync(fd)
        except OSError:
            return
        self._stale_ends = []

    def _cut_failed_append(self, fd: int) -> None:
        """Cut a partly written record off again (we hold the lock), so the journal stays
        appendable; only if that fails too is the rest left as a torn tail for :meth:`repair`."""
        try:
            if os.fstat(fd).st_size > self._size:
                os.ftruncate(fd, self._size)
                if self._fsync:
                    os.fsync(fd)
        except OSError:
            pass
        try:
            size = os.fstat(fd).st_size
        except OSError:
            return
        if size > self._size:
            self._torn = TornTail(self._size, size - self._size)

    def sync(self) -> None:
        """fsync the journal (useful with ``fsync=False``), then move its end to the last
        record (zero the older end slots)."""
        with self._mutex:
            fd = self._require_writable()
            os.fsync(fd)
            self._flush_stale_ends(fd, durable=True)

    def repair(self) -> int:
        """Drop a torn last record, explicitly; returns the number of bytes dropped.

        Only an incomplete last frame found on opening goes, and only when the
        record before it still holds the journal's authenticated end (what a
        crash mid-append leaves). Complete records that fail authentication, a
        cut in the middle of the file, or zero bytes over complete records are
        tampering, never repaired away.

        Raises:
            JournalCutError: the tail is not what a crash leaves (checked with a key that
                reads; with a public key only, a tail of zero bytes is refused too).
            VaultError: the journal is not open for writing.
        """
        with self._mutex:
            fd = self._require_writable()
            torn = self._torn
            if torn is None:
                return 0
            self._check_tail_is_torn(torn)
            try:
                os.ftruncate(fd, torn.offset)
                os.fsync(fd)
            except OSError as exc:
                raise VaultError(f"{self._where}: repair failed ({exc.strerror})") from None
            self._size = torn.offset
            self._torn = None
            self._torn_zero = False
            self._flush_stale_ends(fd, durable=True)
            return torn.size

    def _check_tail_is_torn(self, torn: TornTail) -> None:
        if self._end_at is None:  # format 1 (to migrate): it has no end to check
            if self._torn_zero:
                raise JournalCutError(
                    f"{self._where}: the journal ends in {torn.size} zero bytes, and format 1"
                    " cannot tell a crash from zeroed records; restore it from a backup"
                )
            return
        if not self.can_read:
            if self._torn_zero:
                raise KeyKindError(
                    f"{self._where}: the journal ends in {torn.size} zero bytes; telling a crash"
                    " from zeroed records needs the identity (--identity)"
                )
            return
        data = read_file(self.path, "journal")
        slot = data[self._end_at : self._end_at + end_length(self._cipher.header)]
        aad = end_aad(self._cipher.header, self._count, self._chain)
        if not self._cipher.open_end(slot, aad):
            raise self._cut_error(self._count, torn, self._torn_zero)

    def close(self) -> None:
        """Close the file and release the lock (idempotent).

        With ``fsync=False``, first fsyncs and zeroes the end slots appends left behind."""
        with self._mutex:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    if self._stale_ends:
                        with contextlib.suppress(OSError):
                            os.fsync(fd)
                            self._flush_stale_ends(fd, durable=True)
                finally:
                    os.close(fd)
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> SealedJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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
            raise KeyKindError(
                f"{self._where}: opened with a public key only; reading needs the identity"
                " (--identity)"
            )
        where = self._where
        data = read_file(self.path, "journal")
        header = parse_header(data, FileKind.JOURNAL, where)
        if header.raw != self._cipher.header.raw:
            raise TamperedError(f"{where}: the journal's header changed since it was opened")
        scan = scan_journal(data, header, where)
        records = []
        digests = []
        chain = chain_start(header)
        for frame in scan.frames:
            plain = self._cipher.open(frame)
            if plain is None:
                raise TamperedError(
                    f"{where}: record at byte {frame.offset} fails authentication (tampered or"
                    " damaged); restore the journal from a backup"
                )
            value = codec.decode(plain, where)
            if not isinstance(value, dict):
                raise TamperedError(f"{where}: record at byte {frame.offset} is not a JSON object")
            records.append(value)
            raw = data[frame.offset : frame.end]
            digests.append(_digest(raw))
            chain = chain_next(chain, raw)
        _check_order([f.seq for f in scan.frames], where)
        torn = (
            None
            if scan.torn_offset is None
            else TornTail(scan.torn_offset, len(data) - scan.torn_offset)
        )
        proven = False
        if scan.end_len:
            aad = end_aad(header, len(scan.frames), chain)
            if not self._cipher.open_end(scan.end_slot(data), aad):
                raise self._cut_error(len(scan.frames), torn, scan.torn_zero)
            proven = True
        if torn is not None:
            raise self._torn_error(torn)
        self._read_digests = digests
        self._completeness = Completeness(
            len(records),
            proven,
            "ends with its authenticated end" if proven else
            "format 1 (hyperseal 0.1): its end cannot be checked",
        )  # fmt: skip
        if expect is not None:
            self.check_checkpoint(expect)
        return records

    def check_checkpoint(self, expect: JournalCheckpoint) -> None:
        """Check the records of the last :meth:`read` against a checkpoint taken earlier.

        Raises:
            TamperedError: another journal's checkpoint, or a record differs from it.
            JournalDroppedError: fewer records than the checkpoint counted (a rollback).
            VaultError: nothing was read yet.
        """
        where = self._where
        if self._completeness is None:
            raise VaultError(f"{where}: read the journal before checking it against a checkpoint")
        digests = self._read_digests
        if expect.journal_id != self.journal_id:
            raise TamperedError(f"{where}: this is not the journal the checkpoint was taken of")
        if len(digests) < expect.records:
            raise JournalDroppedError(
                f"{where}: has {len(digests)} records but held {expect.records} at the checkpoint"
                " stored in the vault; it was replaced by an older copy; restore it from a backup"
            )
        if expect.records and digests[expect.records - 1] != expect.last_digest:
            raise TamperedError(
                f"{where}: record {expect.records - 1} differs from the checkpoint's"
            )

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
        cipher = new_file(
            FileKind.JOURNAL, new_key, self._where, kdf=kdf, limits=self._limits,
            file_id=self._cipher.header.file_id,
        )  # fmt: skip
        frames = [
            encode_frame(seq, cipher.seal(seq, codec.encode_document(record, "journal record")))
            for seq, record in enumerate(records)
        ]
        last = _digest(frames[-1]) if frames else ""
        return encode_journal(cipher, frames), JournalCheckpoint(self.journal_id, len(frames), last)


def encode_journal(cipher: RecordCipher, frames: list[bytes]) -> bytes:
    """A whole journal file: header, then each frame with its end slot (zeros but the last,
    which holds the authenticated end)."""
    header: Header = cipher.header
    zeros = bytes(end_length(header))
    chain = chain_start(header)
    parts = [header.raw, zeros]
    for frame in frames:
        chain = chain_next(chain, frame)
        parts += [frame, zeros]
    parts[-1] = cipher.seal_end(end_aad(header, len(frames), chain))
    return b"".join(parts)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


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
