"""Appending to a sealed journal, durably, and repairing what a crash mid-append leaves.

Durability (the fsync policy): :meth:`JournalAppender.append` writes the frame
and its end slot with one ``pwrite`` and, by default (``fsync=True``), fsyncs
it before returning, so a returned append survives a power cut. Then the
previous end slot is overwritten with zeros, so the journal's end moves to
the new record. With ``fsync=False`` the operating system decides when the
data reaches the disk, and the previous end slot is zeroed only at
:meth:`JournalAppender.sync` or :meth:`JournalAppender.close`, after an
fsync; a crash may then lose the latest records (the journal then ends at an
older authenticated end) or leave a torn tail, never a record that reads back
wrong.

A frame torn by a crash mid-append is dropped only by an explicit
:meth:`JournalAppender.repair`, and only when the record before it still
holds the journal's authenticated end: a cut in the middle of the file, or
zero bytes over complete records, is tampering and is never repaired away.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.vault import codec
from tuner.vault.atomic import FileLock
from tuner.vault.cipher import RecordCipher
from tuner.vault.errors import JournalCutError, JournalTornTailError, KeyKindError, VaultError
from tuner.vault.format import (
    JournalScan,
    chain_next,
    chain_start,
    encode_frame,
    end_aad,
    end_length,
)
from tuner.vault.journal_file import pwrite_all as _pwrite_all
from tuner.vault.journal_records import (
    TornTail,
    cut_error,
    frame_digest,
    old_format_error,
    torn_error,
)
from tuner.vault.sealed import SealedFile, read_file


class JournalAppender(SealedFile):
    """The writing side of an open journal (:class:`~tuner.vault.journal.SealedJournal`):
    where it ends, its file descriptor and lock, appending, syncing, repairing, closing."""

    def __init__(
        self, path: Path, cipher: RecordCipher, *, fsync: bool, lock: FileLock | None
    ) -> None:
        super().__init__(path, cipher)
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

    def _open_fd(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise VaultError(f"{self._where}: cannot open for appending ({exc.strerror})") from None

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

    def _require_writable(self) -> int:
        if self._fd is None:
            raise VaultError(
                f"{self._where}: journal is not open for writing (closed or read-only)"
            )
        return self._fd

    def _torn_error(self, torn: TornTail) -> JournalTornTailError:
        return torn_error(self._where, torn, legacy=self._end_at is None)

    def _cut_error(self, count: int, torn: TornTail | None, zero: bool) -> JournalCutError:
        return cut_error(self._where, count, torn, zero)

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
            self._last_digest = frame_digest(frame)
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


__all__ = ["JournalAppender"]
