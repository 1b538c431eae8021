"""A sealed journal's bytes: written whole or frame by frame, and read back authenticated.

The layout (``docs/vault-format.md``): the header, an end slot, then each
record frame followed by its own end slot. Only the last end slot holds the
authenticated end (a tag over the record count and the chain digest of
every frame before it); writers zero the others. Format 1 (hyperseal 0.1)
has no end slots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tuner.vault import codec
from tuner.vault.cipher import RecordCipher
from tuner.vault.errors import TamperedError
from tuner.vault.format import (
    FileKind,
    Frame,
    Header,
    JournalScan,
    chain_next,
    chain_start,
    end_aad,
    end_length,
    parse_header,
    scan_journal,
)
from tuner.vault.journal_records import (
    Completeness,
    TornTail,
    check_order,
    cut_error,
    frame_digest,
    torn_error,
)


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


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` of ``fd`` (``pwrite`` may write less at a time)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def chain_of(header: Header, data: bytes, scan: JournalScan) -> bytes:
    """The chain digest over every complete frame of a scanned journal."""
    chain = chain_start(header)
    for frame in scan.frames:
        chain = chain_next(chain, data[frame.offset : frame.end])
    return chain


@dataclass(frozen=True)
class JournalRead:
    """Every record of a journal, authenticated and in order (see :func:`read_journal`).

    Attributes:
        records: the records.
        digests: each record frame's digest (:func:`~tuner.vault.journal_records.frame_digest`).
        completeness: what the read proved about the journal's end.
    """

    records: list[dict[str, Any]]
    digests: list[str]
    completeness: Completeness


def read_journal(cipher: RecordCipher, data: bytes, where: str) -> JournalRead:
    """Authenticate every record of the journal file ``data`` and its end, with ``cipher``
    (a key that reads) unlocked for the header the journal was opened with.

    Raises:
        TamperedError: the header changed, or a record fails authentication.
        JournalCutError: no authenticated end after the last record (records cut off).
        JournalOrderError: records out of sequence.
        JournalTornTailError: every record authenticates but the last is incomplete.
    """
    header = parse_header(data, FileKind.JOURNAL, where)
    if header.raw != cipher.header.raw:
        raise TamperedError(f"{where}: the journal's header changed since it was opened")
    scan = scan_journal(data, header, where)
    records = [_open_record(cipher, frame, where) for frame in scan.frames]
    check_order([f.seq for f in scan.frames], where)
    torn = TornTail.at(scan.torn_offset, len(data))
    proven = bool(scan.end_len)
    if proven:
        aad = end_aad(header, len(scan.frames), chain_of(header, data, scan))
        if not cipher.open_end(scan.end_slot(data), aad):
            raise cut_error(where, len(scan.frames), torn, scan.torn_zero)
    if torn is not None:
        raise torn_error(where, torn, legacy=not proven)
    digests = [frame_digest(data[f.offset : f.end]) for f in scan.frames]
    return JournalRead(records, digests, Completeness.of(len(records), proven))


def _open_record(cipher: RecordCipher, frame: Frame, where: str) -> dict[str, Any]:
    plain = cipher.open(frame)
    if plain is None:
        raise TamperedError(
            f"{where}: record at byte {frame.offset} fails authentication (tampered or"
            " damaged); restore the journal from a backup"
        )
    value = codec.decode(plain, where)
    if not isinstance(value, dict):
        raise TamperedError(f"{where}: record at byte {frame.offset} is not a JSON object")
    return value


__all__ = ["JournalRead", "chain_of", "encode_journal", "pwrite_all", "read_journal"]
