"""The sealed journal: round trips, reorder/drop/duplicate/truncate detection, torn tails."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from tuner.vault import (
    DocumentError,
    JournalCheckpoint,
    JournalDroppedError,
    JournalDuplicatedError,
    JournalOrderError,
    JournalReorderedError,
    JournalTornTailError,
    KeyKindError,
    NotAVaultError,
    SealedJournal,
    TamperedError,
    TruncatedError,
    UnknownVersionError,
    VaultError,
    VaultLockedError,
)
from tuner.vault.format import KeyMode, header_length

MODE = {
    "passphrase": KeyMode.PASSPHRASE,
    "key_file": KeyMode.KEY_FILE,
    "recipient": KeyMode.RECIPIENT,
}


def _journal(keys: Any, fast: Any, path: Path, count: int = 4) -> list[dict[str, Any]]:
    records = [{"trial": n, "config": {"lr": 0.01 * (n + 1)}, "map": 0.1 * n} for n in range(count)]
    with SealedJournal.create(path, keys.writer, kdf=fast) as journal:
        for record in records:
            journal.append(record)
    return records


def _split(data: bytes, mode: KeyMode) -> tuple[bytes, list[bytes]]:
    pos = header_length(mode)
    head, frames = data[:pos], []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        frames.append(data[pos : pos + 16 + length])
        pos += 16 + length
    return head, frames


def _read(path: Path, key: Any, **kwargs: Any) -> list[dict[str, Any]]:
    return SealedJournal.open(path, key, writable=False).read(**kwargs)


def test_round_trip(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    records = _journal(keys, fast, path)
    assert _read(path, keys.reader) == records
    with SealedJournal.open(path, keys.writer) as journal:  # resume: appends continue the sequence
        assert journal.records == 4
        assert journal.append({"trial": 4}) == 4
    assert _read(path, keys.reader) == [*records, {"trial": 4}]


def test_recipient_writer_appends_but_cannot_read(keys_for: Any, tmp_path: Path) -> None:
    keys = keys_for("recipient")
    path = tmp_path / "j"
    with SealedJournal.create(path, keys.writer) as journal:
        journal.append({"trial": 0})
        assert not journal.can_read
        with pytest.raises(KeyKindError, match="identity"):
            journal.read()
    assert _read(path, keys.reader) == [{"trial": 0}]


def test_writer_holds_the_lock(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path)
    with SealedJournal.open(path, keys.writer):
        with pytest.raises(VaultLockedError):
            SealedJournal.open(path, keys.writer, lock_timeout=0.05)
        assert len(_read(path, keys.reader)) == 4  # readers need no lock
    SealedJournal.open(path, keys.writer).close()


def test_a_journal_reached_through_a_link_shares_its_lock(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path)
    link = tmp_path / "link.hsj"
    link.symlink_to(path)
    with SealedJournal.open(link, keys.writer) as journal:
        with pytest.raises(VaultLockedError):
            SealedJournal.open(path, keys.writer, lock_timeout=0.05)
        journal.append({"trial": 4})
    assert len(_read(path, keys.reader)) == 5 and link.is_symlink()


def test_closed_or_read_only_journal_refuses_appends(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path)
    journal = SealedJournal.open(path, keys.writer)
    journal.close()
    journal.close()
    with pytest.raises(VaultError, match="not open for writing"):
        journal.append({"x": 1})
    with pytest.raises(VaultError, match="not open for writing"):
        SealedJournal.open(path, keys.reader, writable=False).append({"x": 1})
    with pytest.raises(DocumentError):
        SealedJournal.open(path, keys.writer).append(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_reorder_drop_duplicate_are_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path)
    head, f = _split(path.read_bytes(), MODE[keys.mode])
    cases = [
        ([f[0], f[2], f[1], f[3]], JournalReorderedError),
        ([f[1], f[0], f[2], f[3]], JournalReorderedError),
        ([f[0], f[1], f[3]], JournalDroppedError),
        ([f[1], f[2], f[3]], JournalDroppedError),
        ([f[0], f[1], f[1], f[2], f[3]], JournalDuplicatedError),
        ([f[0], f[1], f[2], f[3], f[3]], JournalDuplicatedError),
    ]
    for frames, error in cases:
        path.write_bytes(head + b"".join(frames))
        with pytest.raises(error) as info:
            _read(path, keys.reader)
        assert info.value.exit_code == 19
        assert isinstance(info.value, TamperedError)
        with pytest.raises(JournalOrderError):  # a writer refuses to append after them
            SealedJournal.open(path, keys.writer)
        with pytest.raises(JournalOrderError):  # what a bare public key can check
            SealedJournal.open(path, keys.writer, writable=False).check_structure()


def test_record_from_another_journal_is_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _journal(keys, fast, first)
    _journal(keys, fast, second)
    head, frames = _split(first.read_bytes(), MODE[keys.mode])
    _, others = _split(second.read_bytes(), MODE[keys.mode])
    first.write_bytes(head + frames[0] + others[1] + b"".join(frames[2:]))
    with pytest.raises(TamperedError, match="fails authentication"):
        _read(first, keys.reader)


def test_every_truncation(keys: Any, fast: Any, tmp_path: Path) -> None:
    """Inside the header: truncated. Inside a record: a torn tail. At a boundary: fewer records,
    which only a checkpoint can tell."""
    path = tmp_path / "j"
    records = _journal(keys, fast, path, count=3)
    original = path.read_bytes()
    head, frames = _split(original, MODE[keys.mode])
    boundaries = {len(head)}
    for frame in frames:
        boundaries.add(max(boundaries) + len(frame))
    reader = SealedJournal.open(path, keys.reader, writable=False)  # read() re-reads the file
    checkpoint = reader.checkpoint()
    for length in range(len(original)):
        path.write_bytes(original[:length])
        if length < len(head):
            with pytest.raises(TruncatedError) as info:
                reader.read()
            assert not isinstance(info.value, JournalTornTailError)
        elif length in boundaries:
            kept = (len(boundaries) - 1) - sum(b > length for b in boundaries)
            assert reader.read() == records[:kept]
            with pytest.raises(JournalDroppedError, match="cut from its end"):
                reader.read(expect=checkpoint)
        else:
            with pytest.raises(JournalTornTailError) as torn:
                reader.read()
            assert torn.value.exit_code == 18
    for length in (0, len(head) - 1, len(head) + 5, len(original) - 1):  # fresh opens agree
        path.write_bytes(original[:length])
        with pytest.raises(TruncatedError):
            _read(path, keys.reader)
    path.write_bytes(original)
    assert _read(path, keys.reader, expect=checkpoint) == records


def test_torn_tail_is_reported_then_repaired_explicitly(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    records = _journal(keys, fast, path)
    original = path.read_bytes()
    path.write_bytes(original[:-7])
    with pytest.raises(JournalTornTailError, match="--repair"):
        _read(path, keys.reader)
    with SealedJournal.open(path, keys.writer) as journal:
        torn = journal.torn_tail
        assert torn is not None and torn.offset + torn.size == len(original) - 7
        with pytest.raises(JournalTornTailError):
            journal.append({"trial": 99})  # never append after a torn tail
        assert journal.repair() == torn.size
        assert journal.torn_tail is None and journal.repair() == 0
        assert journal.append({"trial": 3, "again": True}) == 3
    assert _read(path, keys.reader) == [*records[:3], {"trial": 3, "again": True}]


def test_zero_filled_tail_counts_as_torn(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    records = _journal(keys, fast, path)
    path.write_bytes(path.read_bytes() + bytes(300))
    with pytest.raises(JournalTornTailError):
        _read(path, keys.reader)
    with SealedJournal.open(path, keys.writer) as journal:
        assert journal.repair() == 300
    assert _read(path, keys.reader) == records


def test_damaged_complete_last_record_is_tampering_not_torn(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(TamperedError) as info:
        _read(path, keys.reader)
    assert not isinstance(info.value, JournalOrderError)
    with SealedJournal.open(path, keys.writer) as journal:
        assert journal.repair() == 0  # repair never drops a complete record


def test_every_single_byte_flip_is_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path, count=2)
    original = path.read_bytes()
    for index in range(len(original)):
        damaged = bytearray(original)
        damaged[index] ^= 0xFF
        path.write_bytes(bytes(damaged))
        with pytest.raises((TamperedError, TruncatedError, NotAVaultError, UnknownVersionError)):
            _read(path, keys.reader)


def test_checkpoint(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    with SealedJournal.create(path, keys.writer, kdf=fast) as journal:
        empty = journal.checkpoint()
        journal.append({"trial": 0})
        checkpoint = journal.checkpoint()
        journal.append({"trial": 1})
    assert empty.records == 0 and empty.last_digest == ""
    assert JournalCheckpoint.from_dict(checkpoint.to_dict()) == checkpoint
    assert len(_read(path, keys.reader, expect=checkpoint)) == 2
    assert len(_read(path, keys.reader, expect=empty)) == 2
    with pytest.raises(TamperedError, match="not the journal"):
        _read(path, keys.reader, expect=JournalCheckpoint("00" * 16, 1, checkpoint.last_digest))
    with pytest.raises(TamperedError, match="differs"):
        _read(path, keys.reader, expect=JournalCheckpoint(checkpoint.journal_id, 1, "0" * 32))
    with pytest.raises(DocumentError):
        JournalCheckpoint.from_dict({"records": 1})


def test_create_refuses_existing_file(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    records = _journal(keys, fast, path)
    with pytest.raises(VaultError, match="exists"):
        SealedJournal.create(path, keys.writer, kdf=fast)
    assert _read(path, keys.reader) == records
    with pytest.raises(VaultError, match="no such journal"):
        SealedJournal.open(tmp_path / "missing", keys.writer)


def test_unsynced_appends_and_sync(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    with SealedJournal.create(path, keys.writer, kdf=fast, fsync=False) as journal:
        for n in range(50):
            journal.append({"trial": n})
        journal.sync()
    assert len(_read(path, keys.reader)) == 50


def test_a_failed_append_is_cut_off_and_the_journal_stays_appendable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk filling up mid-record: the half-written record is removed again, so the next
    append (say, after space was freed) works without a repair and nothing earlier is lost."""
    import errno
    import os

    import tuner.vault.journal as journal_module
    from tuner.vault import generate_key_file

    key = generate_key_file(tmp_path / "k.key")
    path = tmp_path / "trials.journal"
    real_write_all = journal_module.write_all

    def disk_full_halfway(fd: int, data: bytes) -> None:
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with SealedJournal.create(path, key) as journal:
        journal.append({"trial": 0})
        size = path.stat().st_size
        monkeypatch.setattr(journal_module, "write_all", disk_full_halfway)
        with pytest.raises(VaultError, match=r"append failed .*earlier records are intact"):
            journal.append({"trial": 1})
        assert path.stat().st_size == size and journal.torn_tail is None
        monkeypatch.setattr(journal_module, "write_all", real_write_all)
        assert journal.append({"trial": 1}) == 1
    assert SealedJournal.open(path, key, writable=False).read() == [{"trial": 0}, {"trial": 1}]
