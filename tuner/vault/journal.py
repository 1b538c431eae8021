"""The sealed journal: an append-only file of encrypted records (one per finished trial).

Each record is sealed on its own with the whole header and its sequence
number as associated data, so :meth:`SealedJournal.read` detects a record
that was altered, moved, dropped, duplicated or cut short. A record torn by
a crash mid-append is reported as :class:`JournalTornTailError` and dropped
only by an explicit :meth:`SealedJournal.repair`.

Durability (the fsync policy): :meth:`SealedJournal.append` writes the whole
frame with one ``write`` to a file opened ``O_APPEND`` and, by default
(``fsync=True``), fsyncs it before returning, so a returned append survives a
power cut. With ``fsync=False`` the operating system decides when the data
reaches the disk (call :meth:`SealedJournal.sync` when it matters); a crash
may then lose the latest records or leave a torn tail, never a record that
reads back wrong.

What is not detected: cutting the journal exactly at a record boundary
looks like a journal with fewer records, since an append-only file cannot
authenticate its own end. Store a :meth:`SealedJournal.checkpoint` in the
vault (which is rewritten atomically) and pass it to ``read(expect=...)`` to
catch that too.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tuner.vault import codec
from tuner.vault.atomic import FileLock, create_exclusive, link_target, write_all
from tuner.vault.cipher import RecordCipher, new_file, unlock
from tuner.vault.errors import (
    DocumentError,
    JournalDroppedError,
    JournalDuplicatedError,
    JournalReorderedError,
    JournalTornTailError,
    KeyKindError,
    TamperedError,
    VaultError,
)
from tuner.vault.format import FileKind, Frame, KeyMode, encode_frame, parse_header, scan_journal
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
            create_exclusive(target, cipher.header.raw)
            journal = cls(target, key, cipher, limits=limits, fsync=fsync, lock=lock)
            journal._size = len(cipher.header.raw)
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
    ) -> SealedJournal:
        """Open a journal, for appending (the default, takes the lock) or only to read.

        Opening checks the header, the key and the frame structure; records
        are authenticated by :meth:`read`. A torn tail does not stop the
        open (so that :meth:`repair` can run) but stops :meth:`append` and
        :meth:`read`.

        Raises:
            VaultLockedError: writable, and another process is writing.
            JournalOrderError: writable, and the stored sequence numbers are wrong.
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
            scan = scan_journal(data, header, where)
            cipher = unlock(header, key, where, limits=limits)
            journal = cls(target, key, cipher, limits=limits, fsync=fsync, lock=lock)
            journal._take_scan(data, scan.frames, scan.torn_offset)
            if writable:
                _check_order(journal._seqs, where)
                journal._open_fd()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return journal

    def _open_fd(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise VaultError(f"{self._where}: cannot open for appending ({exc.strerror})") from None

    def _take_scan(self, data: bytes, frames: list[Frame], torn_offset: int | None) -> None:
        self._count = len(frames)
        self._seqs = [f.seq for f in frames]
        self._size = len(data)
        self._last_digest = _digest(data[frames[-1].offset : frames[-1].end]) if frames else ""
        self._torn = None if torn_offset is None else TornTail(torn_offset, len(data) - torn_offset)

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

    def checkpoint(self) -> JournalCheckpoint:
        """Where the journal stands now: store it to detect a later cut at a record boundary."""
        return JournalCheckpoint(self.journal_id, self._count, self._last_digest)

    # -- writing --------------------------------------------------------------------------

    def _require_writable(self) -> int:
        if self._fd is None:
            raise VaultError(
                f"{self._where}: journal is not open for writing (closed or read-only)"
            )
        return self._fd

    def _torn_error(self, torn: TornTail) -> JournalTornTailError:
        return JournalTornTailError(
            f"{self._where}: last record is incomplete ({torn.size} bytes at byte {torn.offset}),"
            " as a crash mid-append leaves it; drop it with"
            f" `hyperseal vault journal verify {self._where} --repair`",
            offset=torn.offset,
            torn_bytes=torn.size,
        )

    def check_structure(self) -> None:
        """Check, without decrypting, the sequence numbers and the tail as found on opening.

        All a public key alone can check: records cannot be authenticated
        without a key that reads. :meth:`read` does all of this and more.

        Raises:
            JournalOrderError: stored sequence numbers out of order.
            JournalTornTailError: the journal ends with an incomplete record.
        """
        _check_order(self._seqs, self._where)
        if self._torn is not None:
            raise self._torn_error(self._torn)

    def append(self, record: Mapping[str, Any]) -> int:
        """Seal and append one record; returns its sequence number.

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
            seq = self._count
            frame = encode_frame(seq, self._cipher.seal(seq, payload))
            try:
                write_all(fd, frame)
                if self._fsync:
                    os.fsync(fd)
            except OSError as exc:
                self._cut_failed_append(fd)
                raise VaultError(
                    f"{self._where}: append failed ({exc.strerror}); earlier records are intact"
                ) from None
            self._count += 1
            self._seqs.append(seq)
            self._size += len(frame)
            self._last_digest = _digest(frame)
            return seq

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
        """fsync the journal (useful with ``fsync=False``)."""
        with self._mutex:
            os.fsync(self._require_writable())

    def repair(self) -> int:
        """Drop a torn last record, explicitly; returns the number of bytes dropped.

        Only the incomplete frame found on opening goes; complete records
        that fail authentication are tampering, never repaired away.

        Raises:
            VaultError: the journal is not open for writing.
        """
        with self._mutex:
            fd = self._require_writable()
            if self._torn is None:
                return 0
            try:
                os.ftruncate(fd, self._torn.offset)
                os.fsync(fd)
            except OSError as exc:
                raise VaultError(f"{self._where}: repair failed ({exc.strerror})") from None
            dropped = self._torn.size
            self._size = self._torn.offset
            self._torn = None
            return dropped

    def close(self) -> None:
        """Close the file and release the lock (idempotent)."""
        with self._mutex:
            if self._fd is not None:
                fd, self._fd = self._fd, None
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
        """Read the file again and return every record, authenticated and in order.

        Args:
            expect: a checkpoint taken earlier; the journal must still hold
                those records (catches a cut at a record boundary).

        Raises:
            KeyKindError: opened with a public key only.
            TamperedError: a record fails authentication.
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
        _check_order([f.seq for f in scan.frames], where)
        if scan.torn_offset is not None:
            raise self._torn_error(TornTail(scan.torn_offset, len(data) - scan.torn_offset))
        if expect is not None:
            self._check_expect(expect, data, scan.frames)
        return records

    def resealed(
        self,
        new_key: KeySource,
        *,
        expect: JournalCheckpoint | None = None,
        kdf: ScryptParams | None = None,
    ) -> tuple[bytes, JournalCheckpoint]:
        """This journal's records sealed under ``new_key`` (a fresh data key, the same file id
        and sequence numbers): the bytes of the new file and its checkpoint. Writes nothing.

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
        return cipher.header.raw + b"".join(frames), JournalCheckpoint(
            self.journal_id, len(frames), last
        )

    def _check_expect(self, expect: JournalCheckpoint, data: bytes, frames: list[Frame]) -> None:
        where = self._where
        if expect.journal_id != self.journal_id:
            raise TamperedError(f"{where}: this is not the journal the checkpoint was taken of")
        if len(frames) < expect.records:
            raise JournalDroppedError(
                f"{where}: has {len(frames)} records but held {expect.records} at the checkpoint;"
                " records were cut from its end; restore it from a backup"
            )
        if expect.records:
            last = frames[expect.records - 1]
            if _digest(data[last.offset : last.end]) != expect.last_digest:
                raise TamperedError(
                    f"{where}: record {expect.records - 1} differs from the checkpoint's"
                )
