"""The sealed journal: round trips, reorder/drop/duplicate/truncate detection, torn tails,
the authenticated end (a cut at a record boundary) and the migration of format 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tuner.vault import (
    DocumentError,
    JournalCheckpoint,
    JournalCutError,
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
from tuner.vault.format import FileKind, KeyMode, parse_header, scan_journal

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
    """The header with the end slot after it, and each frame with its end slot."""
    header = parse_header(data, FileKind.JOURNAL, "test")
    assert header.mode is mode
    scan = scan_journal(data, header, "test")
    head = data[: scan.ends[0] + scan.end_len]
    return head, [data[f.offset : f.end + scan.end_len] for f in scan.frames]


def _torn_by_a_crash(keys: Any, fast: Any, path: Path, cut: int) -> list[dict[str, Any]]:
    """Three records, then what a crash in the middle of appending a fourth leaves: the
    fourth frame without its last ``cut`` bytes (the third record still holds the end)."""
    records = _journal(keys, fast, path, count=3)
    before = path.read_bytes()
    with SealedJournal.open(path, keys.writer) as journal:
        journal.append({"trial": 3})
    after = path.read_bytes()
    path.write_bytes(before + after[len(before) : len(after) - cut])
    return records


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


def test_every_truncation_is_detected_and_none_is_a_torn_tail(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    """Inside the header: truncated. Anywhere else, a record boundary included: the journal no
    longer ends with its authenticated end (no crash leaves that), never fewer records."""
    path = tmp_path / "j"
    records = _journal(keys, fast, path, count=3)
    original = path.read_bytes()
    head, _ = _split(original, MODE[keys.mode])
    reader = SealedJournal.open(path, keys.reader, writable=False)  # read() re-reads the file
    for length in range(len(original)):
        path.write_bytes(original[:length])
        with pytest.raises((TruncatedError, JournalCutError)) as info:
            reader.read()
        assert not isinstance(info.value, JournalTornTailError), length
        if length >= len(head):
            assert isinstance(info.value, JournalCutError) and info.value.exit_code == 19
    path.write_bytes(original[: len(head)])  # every record cut: not an empty journal
    with pytest.raises(JournalCutError, match="no authenticated end after its header"):
        _read(path, keys.reader)
    path.write_bytes(original)
    assert _read(path, keys.reader) == records


def test_a_cut_journal_is_never_repaired_away(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path, count=3)
    original = path.read_bytes()
    head, frames = _split(original, MODE[keys.mode])
    cut = original[: len(head) + len(frames[0]) + 20]  # inside record 1, not the last
    path.write_bytes(cut)
    with pytest.raises(JournalCutError, match="not the last one written"):
        _read(path, keys.reader)
    with SealedJournal.open(path, keys.reader) as journal, pytest.raises(JournalCutError):
        journal.repair()  # a key that reads checks the end before it
    assert path.read_bytes() == cut


def test_zero_bytes_over_complete_records_are_tampering_not_a_torn_tail(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path, count=4)
    original = path.read_bytes()
    head, frames = _split(original, MODE[keys.mode])
    keep = len(head) + len(frames[0]) + len(frames[1])
    zeroed = original[:keep] + bytes(len(original) - keep)  # records 2 and 3 zeroed
    path.write_bytes(zeroed)
    with pytest.raises(JournalCutError, match="zero bytes") as info:
        _read(path, keys.reader)
    assert info.value.exit_code == 19
    with SealedJournal.open(path, keys.reader) as journal, pytest.raises(JournalCutError):
        journal.repair()
    if keys.mode == "recipient":  # the public key alone cannot tell: it refuses too
        with (
            SealedJournal.open(path, keys.writer) as journal,
            pytest.raises(KeyKindError, match="identity"),
        ):
            journal.repair()
    assert path.read_bytes() == zeroed


def test_torn_tail_is_reported_then_repaired_explicitly(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    records = _torn_by_a_crash(keys, fast, path, cut=7)
    size = path.stat().st_size
    with pytest.raises(JournalTornTailError, match="--repair"):
        _read(path, keys.reader)
    with SealedJournal.open(path, keys.writer) as journal:
        torn = journal.torn_tail
        assert torn is not None and torn.offset + torn.size == size
        with pytest.raises(JournalTornTailError):
            journal.append({"trial": 99})  # never append after a torn tail
        assert journal.repair() == torn.size
        assert journal.torn_tail is None and journal.repair() == 0
        assert journal.append({"trial": 3, "again": True}) == 3
    assert _read(path, keys.reader) == [*records, {"trial": 3, "again": True}]


def test_zero_filled_tail_counts_as_torn(keys: Any, fast: Any, tmp_path: Path) -> None:
    """Zeros after the last complete record (some file systems leave them after a crash)."""
    path = tmp_path / "j"
    records = _journal(keys, fast, path)
    path.write_bytes(path.read_bytes() + bytes(300))
    with pytest.raises(JournalTornTailError):
        _read(path, keys.reader)
    with SealedJournal.open(path, keys.reader) as journal:
        assert journal.repair() == 300
    assert _read(path, keys.reader) == records


def test_damaged_complete_last_record_is_tampering_not_torn(
    keys: Any, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "j"
    _journal(keys, fast, path)
    data = bytearray(path.read_bytes())
    header = parse_header(bytes(data), FileKind.JOURNAL, "test")
    last = scan_journal(bytes(data), header, "test").frames[-1]
    data[last.end - 1] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(TamperedError, match="fails authentication") as info:
        _read(path, keys.reader)
    assert not isinstance(info.value, JournalOrderError)
    if keys.mode == "recipient":  # a public key cannot check; it has nothing to repair
        with SealedJournal.open(path, keys.writer) as journal:
            assert journal.repair() == 0  # repair never drops a complete record
    with pytest.raises(TamperedError):  # a key that reads will not append after it
        SealedJournal.open(path, keys.reader)


def test_every_single_byte_flip_is_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    """Except in the zeroed end slots of records that are no longer last: those bytes are
    never read, and the records read back unaltered."""
    path = tmp_path / "j"
    records = _journal(keys, fast, path, count=2)
    original = path.read_bytes()
    scan = scan_journal(original, parse_header(original, FileKind.JOURNAL, "t"), "t")
    ignored = {at + i for at in scan.ends[:-1] for i in range(scan.end_len)}
    for index in range(len(original)):
        damaged = bytearray(original)
        damaged[index] ^= 0xFF
        path.write_bytes(bytes(damaged))
        if index in ignored:
            assert _read(path, keys.reader) == records
            continue
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

    import tuner.vault.journal_append as journal_module
    from tuner.vault import generate_key_file

    key = generate_key_file(tmp_path / "k.key")
    path = tmp_path / "trials.journal"
    real_write_all = journal_module._pwrite_all

    def disk_full_halfway(fd: int, data: bytes, offset: int) -> None:
        real_write_all(fd, data[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with SealedJournal.create(path, key) as journal:
        journal.append({"trial": 0})
        size = path.stat().st_size
        monkeypatch.setattr(journal_module, "_pwrite_all", disk_full_halfway)
        with pytest.raises(VaultError, match=r"append failed .*earlier records are intact"):
            journal.append({"trial": 1})
        assert path.stat().st_size == size and journal.torn_tail is None
        monkeypatch.setattr(journal_module, "_pwrite_all", real_write_all)
        assert journal.append({"trial": 1}) == 1
    assert SealedJournal.open(path, key, writable=False).read() == [{"trial": 0}, {"trial": 1}]


def test_no_writer_that_can_read_appends_after_a_cut(keys: Any, fast: Any, tmp_path: Path) -> None:
    """Appending would give the cut journal a valid end again: the writer refuses first."""
    path = tmp_path / "j"
    _journal(keys, fast, path, count=3)
    head, frames = _split(path.read_bytes(), MODE[keys.mode])
    cut = head + frames[0] + frames[1]
    path.write_bytes(cut)
    with pytest.raises(JournalCutError):
        SealedJournal.open(path, keys.reader)
    assert path.read_bytes() == cut


@pytest.mark.parametrize("fsync", [True, False])
def test_only_the_last_end_slot_holds_a_tag(
    fsync: bool, keys: Any, fast: Any, tmp_path: Path
) -> None:
    """What makes a cut at a record boundary visible: every earlier end slot is zeros once the
    appends are durable (at once with fsync, at sync/close without), and a writer reopening a
    journal left with a stale one (a crash between the two writes of an append) zeroes it."""

    def stale_slots(data: bytes) -> list[int]:
        scan = scan_journal(data, parse_header(data, FileKind.JOURNAL, "t"), "t")
        return [at for at in scan.ends[:-1] if data[at : at + scan.end_len] != bytes(scan.end_len)]

    path = tmp_path / "j"
    with SealedJournal.create(path, keys.writer, kdf=fast, fsync=fsync) as journal:
        for n in range(3):
            journal.append({"trial": n})
        if fsync:
            assert stale_slots(path.read_bytes()) == []
    data = path.read_bytes()
    assert stale_slots(data) == []
    # a crash between the append and the zeroing: the previous end still holds its tag
    with SealedJournal.open(path, keys.writer) as journal:
        before = path.read_bytes()
        journal.append({"trial": 3})
    after = path.read_bytes()
    crashed = before + after[len(before) :]
    path.write_bytes(crashed)
    assert len(stale_slots(crashed)) == 1
    SealedJournal.open(path, keys.writer).close()  # a writer reopening it zeroes the stale slot
    assert stale_slots(path.read_bytes()) == []
    # the same after a crash that also tore the next append: zeroed by the repair
    path.write_bytes(crashed + after[len(before) : -5])
    with SealedJournal.open(path, keys.reader) as journal:
        assert journal.repair() > 0
    assert stale_slots(path.read_bytes()) == []
    assert _read(path, keys.reader) == [{"trial": n} for n in range(4)]
