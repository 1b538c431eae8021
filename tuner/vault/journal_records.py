"""What a sealed journal's records prove, and the errors that say what is wrong with them.

:class:`JournalCheckpoint` (how far a journal had got, stored in the vault
to catch a rollback), :class:`Completeness` (what a read proved about the
journal's end) and :class:`TornTail` (an incomplete last record, as a crash
mid-append leaves it); the checks of record sequence numbers and of a
checkpoint; the one-line errors for a torn, cut or format 1 journal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tuner.vault.errors import (
    DocumentError,
    JournalCutError,
    JournalDroppedError,
    JournalDuplicatedError,
    JournalReorderedError,
    JournalTornTailError,
    OldJournalFormatError,
    TamperedError,
)


def frame_digest(frame: bytes) -> str:
    """A record frame's digest as a checkpoint stores it (SHA-256, first 16 bytes, hex)."""
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

    @classmethod
    def of(cls, records: int, proven: bool) -> Completeness:
        """The completeness of ``records`` read, with or without a proven end."""
        if proven:
            return cls(records, True, "ends with its authenticated end")
        return cls(records, False, "format 1 (hyperseal 0.1): its end cannot be checked")


@dataclass(frozen=True)
class TornTail:
    """An incomplete record at the end of a journal.

    Attributes:
        offset: where it starts (the size the journal has after repair).
        size: how many bytes it spans.
    """

    offset: int
    size: int

    @classmethod
    def at(cls, offset: int | None, file_size: int) -> TornTail | None:
        """The tail from ``offset`` to the end of a file of ``file_size`` bytes, if any."""
        return None if offset is None else cls(offset, file_size - offset)


def old_format_error(where: str) -> OldJournalFormatError:
    """The one-line message for a journal of hyperseal 0.1 (format 1)."""
    return OldJournalFormatError(
        f"{where}: journal of format 1 (hyperseal 0.1), which cannot prove that no record was"
        f" cut off its end; convert it once with `hyperseal vault journal migrate {where}`"
    )


def check_order(seqs: list[int], where: str) -> None:
    """Raise unless the stored sequence numbers ``seqs`` are 0, 1, 2... in order.

    Raises:
        JournalDuplicatedError, JournalReorderedError, JournalDroppedError: which is wrong.
    """
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


def check_checkpoint(
    where: str, journal_id: str, digests: list[str], expect: JournalCheckpoint
) -> None:
    """Check the frame ``digests`` read from journal ``journal_id`` against a checkpoint.

    Raises:
        TamperedError: another journal's checkpoint, or a record differs from it.
        JournalDroppedError: fewer records than the checkpoint counted (a rollback).
    """
    if expect.journal_id != journal_id:
        raise TamperedError(f"{where}: this is not the journal the checkpoint was taken of")
    if len(digests) < expect.records:
        raise JournalDroppedError(
            f"{where}: has {len(digests)} records but held {expect.records} at the checkpoint"
            " stored in the vault; it was replaced by an older copy; restore it from a backup"
        )
    if expect.records and digests[expect.records - 1] != expect.last_digest:
        raise TamperedError(f"{where}: record {expect.records - 1} differs from the checkpoint's")


def torn_error(where: str, torn: TornTail, *, legacy: bool) -> JournalTornTailError:
    """A torn last record, and the command that drops it (``migrate`` for format 1)."""
    command = "migrate" if legacy else "verify"
    return JournalTornTailError(
        f"{where}: last record is incomplete ({torn.size} bytes at byte {torn.offset}),"
        " as a crash mid-append leaves it; drop it with"
        f" `hyperseal vault journal {command} {where} --repair`",
        offset=torn.offset,
        torn_bytes=torn.size,
    )


def cut_error(where: str, count: int, torn: TornTail | None, zero: bool) -> JournalCutError:
    """No authenticated end after record ``count - 1``: records were cut off or zeroed
    (``torn``: the tail found after them; ``zero``: that tail is zero bytes)."""
    after = f"after record {count - 1}" if count else "after its header"
    if torn is not None and zero:
        what = (
            f"{torn.size} zero bytes at byte {torn.offset} cover records that were complete"
            f" (the record before them was not the last)"
        )
    elif torn is not None:
        what = f"it is cut inside a record at byte {torn.offset} that was not the last one written"
    else:
        what = f"it has no authenticated end {after}: records were cut off its end (or altered)"
    return JournalCutError(
        f"{where}: {what}; the journal was tampered with (or damaged), not torn by a"
        " crash; restore it from a backup"
    )


__all__ = [
    "Completeness",
    "JournalCheckpoint",
    "TornTail",
    "check_checkpoint",
    "check_order",
    "cut_error",
    "frame_digest",
    "old_format_error",
    "torn_error",
]
