"""The test vectors of ``docs/vault-format.md``: the code writes them and reads them back.

Randomness is replaced by a counter (call k returns bytes ``0xA0 + k`` repeated)
and the clock by a constant, so the files are reproducible byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tuner.vault import (
    Identity,
    KeyFile,
    OldJournalFormatError,
    Passphrase,
    ScryptParams,
    SealedJournal,
    Vault,
    migrate_journal,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "vault-format.md"
KEY_FILE_TEXT = "hskey1AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-IV1b_\n"
PASSPHRASE = "correct horse battery staple"
IDENTITY = bytes([0x42] * 32)
ENTRY = {"lr": 0.02, "weight_decay": 0.0005}


@pytest.fixture
def deterministic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    counter = iter(range(0xA0, 0x100))
    monkeypatch.setattr("tuner.vault.crypto.random_bytes", lambda n: bytes([next(counter)]) * n)
    monkeypatch.setattr("tuner.vault.vault._now", lambda: "2025-01-01T00:00:00.000Z")
    yield


def _build(name: str, folder: Path) -> tuple[bytes, Any]:
    if name == "key-file-vault":
        (folder / "k").write_text(KEY_FILE_TEXT)
        key = KeyFile(folder / "k")
        Vault.create(folder / name, key).put("best", ENTRY)
        return (folder / name).read_bytes(), key
    if name == "passphrase-journal":
        key = Passphrase(PASSPHRASE)
        with SealedJournal.create(folder / name, key, kdf=ScryptParams(log2_n=10)) as journal:
            journal.append({"trial": 0, "map": 0.25})
            journal.append({"trial": 1, "map": 0.5})
        return (folder / name).read_bytes(), key
    identity = Identity(IDENTITY)
    Vault.create(folder / name, identity.recipient).put("best", ENTRY)
    return (folder / name).read_bytes(), identity


def _documented(name: str) -> bytes:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"```text\n# {name}\n(.*?)```", text, re.S)
    assert match, f"no `# {name}` hex block in {DOC.name}"
    return bytes.fromhex("".join(match.group(1).split()))


def hex_block(name: str, data: bytes) -> str:
    """The documentation block for ``data`` (32 bytes a line)."""
    lines = [data[i : i + 32].hex() for i in range(0, len(data), 32)]
    return "```text\n# " + name + "\n" + "\n".join(lines) + "\n```"


@pytest.mark.parametrize("name", ["key-file-vault", "passphrase-journal", "recipient-vault"])
def test_vectors_match_the_documentation(name: str, deterministic: None, tmp_path: Path) -> None:
    data, _ = _build(name, tmp_path)
    assert data == _documented(name), "\n" + hex_block(name, data)


@pytest.mark.parametrize("name", ["key-file-vault", "passphrase-journal", "recipient-vault"])
def test_documented_vectors_decrypt(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(_documented(name))
    if name == "key-file-vault":
        (tmp_path / "k").write_text(KEY_FILE_TEXT)
        assert Vault.open(path, KeyFile(tmp_path / "k")).get("best") == ENTRY
    elif name == "passphrase-journal":
        records = SealedJournal.open(path, Passphrase(PASSPHRASE), writable=False).read()
        assert records == [{"trial": 0, "map": 0.25}, {"trial": 1, "map": 0.5}]
    else:
        assert Vault.open(path, Identity(IDENTITY)).get("best") == ENTRY


def test_key_file_text_is_the_documented_key(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(KEY_FILE_TEXT)
    assert KeyFile(tmp_path / "k").material() == bytes(range(32))


def test_a_journal_of_hyperseal_0_1_is_refused_with_how_to_migrate_it(tmp_path: Path) -> None:
    """The format 1 vector (hyperseal 0.1): refused in one line naming the file and the
    command; migrated once, it reads back the same records in the current format."""
    path = tmp_path / "old.journal"
    path.write_bytes(_documented("passphrase-journal-format-1"))
    key = Passphrase(PASSPHRASE)
    for opening in (
        lambda: SealedJournal.open(path, key, writable=False),
        lambda: SealedJournal.open(path, key),
    ):
        with pytest.raises(OldJournalFormatError) as info:
            opening()
        message = str(info.value)
        assert "\n" not in message and "hyperseal 0.1" in message
        assert f"hyperseal vault journal migrate {path}" in message
        assert info.value.exit_code == 14
    assert migrate_journal(path, key) == 2
    assert path.read_bytes()[8] == 2
    records = SealedJournal.open(path, key, writable=False).read()
    assert records == [{"trial": 0, "map": 0.25}, {"trial": 1, "map": 0.5}]
    assert migrate_journal(path, key) is None  # already current


def test_a_torn_journal_of_hyperseal_0_1_is_repaired_then_migrated(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tuner.main import app
    from tuner.vault import JournalCutError, JournalTornTailError

    path = tmp_path / "old.journal"
    old = _documented("passphrase-journal-format-1")
    path.write_bytes(old + old[159:189])  # the start of a third frame, as a crash leaves it
    key = Passphrase(PASSPHRASE)
    with pytest.raises(JournalTornTailError, match=f"journal migrate {path} --repair"):
        migrate_journal(path, key)
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    args = ["vault", "journal", "migrate", str(path), "--passphrase-file", str(tmp_path / "pass")]
    result = CliRunner().invoke(app, [*args, "--repair"])
    assert result.exit_code == 0, result.output
    assert "dropped a torn record of 30 bytes" in result.output and "(2 records)" in result.output
    assert len(SealedJournal.open(path, key, writable=False).read()) == 2
    path.write_bytes(old + bytes(64))  # zeros: format 1 cannot tell them from zeroed records
    with SealedJournal.open(path, key, legacy=True) as journal, pytest.raises(JournalCutError):
        journal.repair()
    assert path.read_bytes() == old + bytes(64)
    path.write_bytes(old)
    with (
        SealedJournal.open(path, key, legacy=True) as journal,
        pytest.raises(OldJournalFormatError),
    ):
        journal.append({"trial": 2})  # nothing is appended to a format 1 journal
