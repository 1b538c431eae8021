"""The Python API: round trips in every key mode, key handling, locking, file modes."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import pytest

import tuner.vault as vault_pkg
from tuner.errors import HypersealError
from tuner.vault import (
    DocumentError,
    EntryNotFoundError,
    Identity,
    KdfParamsError,
    KeyFile,
    KeyKindError,
    KeyMode,
    Passphrase,
    Recipient,
    ScryptParams,
    SealedJournal,
    Vault,
    VaultError,
    VaultLockedError,
    WrongKeyError,
    generate_identity_file,
    generate_key_file,
    inspect_file,
    load_recipient,
    verify,
)
from tuner.vault.atomic import FileLock

DOC = {"config": {"lr": 0.02, "weight_decay": 5e-4, "optimizer": "sgd"}, "map": 0.41, "nan": None}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_public_api_is_pinned() -> None:
    expected = {
        "Vault",
        "SealedJournal",
        "verify",
        "Passphrase",
        "KeyFile",
        "Recipient",
        "Identity",
        "generate_key_file",
        "generate_identity_file",
        "load_recipient",
        "inspect_file",
        "EntryInfo",
        "VerifyReport",
        "JournalCheckpoint",
        "TornTail",
        "SealedFileInfo",
        "ScryptParams",
        "KdfLimits",
        "KeyMode",
        "FileKind",
    }
    assert expected <= set(vault_pkg.__all__)
    assert all(hasattr(vault_pkg, name) for name in vault_pkg.__all__)


def test_round_trip(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "best.vault"
    Vault.create(path, keys.writer, kdf=fast)
    writer = Vault.open(path, keys.writer)
    writer.put("fasterrcnn", DOC)
    writer.put("retinanet", {"config": {"lr": 0.01}})
    writer.put("fasterrcnn", {**DOC, "map": 0.43})  # replaces
    reader = Vault.open(path, keys.reader)
    assert reader.names() == ["fasterrcnn", "retinanet"]
    assert reader.get("fasterrcnn") == {**DOC, "map": 0.43}
    assert [e.name for e in reader.entries()] == ["fasterrcnn", "retinanet"]
    assert all(e.saved_at.tzinfo is not None for e in reader.entries())
    assert "retinanet" in reader and len(reader) == 2
    report = verify(path, keys.reader)
    assert report.entries == 2 and report.version == 1
    assert _mode(path) == 0o600


def test_writes_through_a_symlink_update_its_target(
    keys: Any, fast: ScryptParams, tmp_path: Path
) -> None:
    """put and rotate used to rename a new file over the link itself: the vault it pointed to
    silently missed the entry, and writers by the two names did not share a lock."""
    real = tmp_path / "synced" / "best.vault"
    real.parent.mkdir()
    Vault.create(real, keys.writer, kdf=fast).put("a", {"x": 1})
    link = tmp_path / "best.vault"
    link.symlink_to(real)
    Vault.open(link, keys.writer).put("b", {"x": 2})
    assert link.is_symlink() and sorted(Vault.open(real, keys.reader).names()) == ["a", "b"]
    assert (real.parent / "best.vault.lock").exists() and not (
        tmp_path / "best.vault.lock"
    ).exists()
    if keys.mode != "recipient":
        Vault.open(link, keys.reader).rotate(keys.writer, kdf=fast)
        assert link.is_symlink() and Vault.open(real, keys.reader).get("b") == {"x": 2}


def test_default_cost_path(tmp_path: Path) -> None:
    """The default scrypt cost, once: create and open take a deliberate fraction of a second."""
    path = tmp_path / "default.vault"
    key = Passphrase("default cost")
    Vault.create(path, key).put("a", {"x": 1})
    start = time.perf_counter()
    opened = Vault.open(path, key)
    elapsed = time.perf_counter() - start
    assert opened.get("a") == {"x": 1}
    assert inspect_file(path).kdf == ScryptParams(17, 8, 1)
    assert 0.05 < elapsed < 10


def test_get_returns_a_copy(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast).put("a", DOC)
    reader = Vault.open(path, keys.reader)
    reader.get("a")["config"]["lr"] = 99
    assert reader.get("a")["config"]["lr"] == 0.02


def test_recipient_writer_cannot_read(keys_for: Any, tmp_path: Path) -> None:
    keys = keys_for("recipient")
    path = tmp_path / "r.vault"
    writer = Vault.create(path, keys.writer)
    writer.put("a", DOC)
    assert not writer.can_read
    with pytest.raises(KeyKindError):
        writer.get("a")
    with pytest.raises(KeyKindError):
        verify(path, keys.writer)
    with pytest.raises(KeyKindError):
        writer.rotate(Passphrase("x"))
    # a different identity is refused with a clear error
    with pytest.raises(WrongKeyError, match="sealed to public key hspub1"):
        Vault.open(path, Identity.generate())
    with pytest.raises(WrongKeyError):
        Vault.open(path, Identity.generate().recipient)


def test_recipient_vault_keeps_earlier_records_unread(keys_for: Any, tmp_path: Path) -> None:
    keys = keys_for("recipient")
    path = tmp_path / "r.vault"
    Vault.create(path, keys.writer)
    for trial in range(3):
        Vault.open(path, keys.writer).put("best", {"trial": trial})
    reader = Vault.open(path, keys.reader)
    assert reader.get("best") == {"trial": 2}
    assert verify(path, keys.reader).records == 3
    reader.rotate(keys.writer)  # compacts to the latest record per name
    assert verify(path, keys.reader).records == 1


@pytest.mark.parametrize("target", ["passphrase", "key_file", "recipient"])
def test_rotate_to_every_mode(
    keys: Any, keys_for: Any, target: str, fast: ScryptParams, tmp_path: Path
) -> None:
    path = tmp_path / "rot.vault"
    Vault.create(path, keys.writer, kdf=fast).put("a", DOC)
    opened = Vault.open(path, keys.reader)
    before = path.read_bytes()
    if target == "passphrase":
        new_writer = new_reader = Passphrase("a new passphrase")
    elif target == "key_file":
        new_writer = new_reader = generate_key_file(tmp_path / "new.key")
    else:
        identity = Identity.generate()
        new_writer, new_reader = identity.recipient, identity
    opened.rotate(new_writer, kdf=fast)
    assert path.read_bytes() != before
    assert Vault.open(path, new_reader).get("a") == DOC
    assert inspect_file(path).file_id == before[10:26].hex()  # the file keeps its id
    if keys.mode != target or keys.mode == "key_file":
        with pytest.raises(VaultError):
            Vault.open(path, keys.reader)


def test_rotate_changes_data_key_and_salt(fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    key = Passphrase("same passphrase")
    Vault.create(path, key, kdf=fast).put("a", DOC)
    before = path.read_bytes()
    Vault.open(path, key).rotate(key, kdf=fast)
    after = path.read_bytes()
    assert before[26:44] != after[26:44]  # new salt
    assert Vault.open(path, key).get("a") == DOC


def test_each_write_uses_a_fresh_nonce(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast).put("a", DOC)
    first = path.read_bytes()
    Vault.open(path, keys.writer).put("a", Vault.open(path, keys.reader).get("a"))
    second = path.read_bytes()
    assert first != second
    tail = 60 if keys.mode != "recipient" else 16
    assert first[-tail:] != second[-tail:]


def test_wrong_keys(keys_for: Any, fast: ScryptParams, tmp_path: Path) -> None:
    pw_path, kf_path = tmp_path / "pw.vault", tmp_path / "kf.vault"
    Vault.create(pw_path, Passphrase("right"), kdf=fast)
    key_file = generate_key_file(tmp_path / "a.key")
    Vault.create(kf_path, key_file)
    before = pw_path.read_bytes()
    with pytest.raises(WrongKeyError, match="wrong passphrase") as info:
        Vault.open(pw_path, Passphrase("wrong"))
    assert info.value.exit_code == 11
    assert pw_path.read_bytes() == before  # nothing written
    with pytest.raises(WrongKeyError, match="wrong key file"):
        Vault.open(kf_path, generate_key_file(tmp_path / "b.key"))
    with pytest.raises(KeyKindError, match="sealed with a key file"):
        Vault.open(kf_path, Passphrase("right"))
    with pytest.raises(KeyKindError, match="sealed with a passphrase"):
        Vault.open(pw_path, key_file)
    with pytest.raises(KeyKindError):
        Vault.open(pw_path, Identity.generate())


def test_passphrase_is_normalised() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert Passphrase(composed) == Passphrase(decomposed)
    assert Passphrase(composed).encoded() == Passphrase(decomposed).encoded()
    with pytest.raises(VaultError):
        Passphrase("")


def test_entry_names_and_documents(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    opened = Vault.create(path, keys.writer, kdf=fast)
    for bad in ["", "-x", "a b", "x" * 129, "naïve", "a\nb"]:
        with pytest.raises(DocumentError):
            opened.put(bad, DOC)
    with pytest.raises(DocumentError):
        opened.put("a", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(DocumentError):
        opened.put("a", {"x": object()})
    with pytest.raises(DocumentError):
        opened.put("a", {1: "x"})  # type: ignore[dict-item]
    opened.put("detector/fasterrcnn:v2@best", {"x": float("nan"), "y": "ünïcode"})
    got = Vault.open(path, keys.reader).get("detector/fasterrcnn:v2@best")
    assert got["y"] == "ünïcode" and got["x"] != got["x"]
    with pytest.raises(EntryNotFoundError, match="no entry named"):
        Vault.open(path, keys.reader).get("missing")


def test_create_refuses_to_overwrite_and_missing_files(
    keys: Any, fast: ScryptParams, tmp_path: Path
) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast).put("a", DOC)
    with pytest.raises(VaultError, match="exists"):
        Vault.create(path, keys.writer, kdf=fast)
    assert Vault.open(path, keys.reader).get("a") == DOC
    with pytest.raises(VaultError, match="no such vault"):
        Vault.open(tmp_path / "nope", keys.reader)
    with pytest.raises(VaultError, match="does not exist"):
        Vault.create(tmp_path / "missing-dir" / "v", keys.writer, kdf=fast)


def test_create_checks_kdf_params(tmp_path: Path) -> None:
    with pytest.raises(KdfParamsError):
        Vault.create(tmp_path / "v", Passphrase("x"), kdf=ScryptParams(log2_n=25))
    with pytest.raises(KdfParamsError):
        Vault.create(tmp_path / "v", Passphrase("x"), kdf=ScryptParams(log2_n=4))
    assert not (tmp_path / "v").exists()


def test_lock_excludes_a_second_writer(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast)
    writer = Vault.open(path, keys.writer, lock_timeout=0.05)
    with FileLock(path), pytest.raises(VaultLockedError, match="another process") as info:
        writer.put("a", DOC)
    assert info.value.exit_code == 17
    writer.put("a", DOC)  # released
    assert _mode(path.with_name("v.lock")) == 0o600


def test_put_sees_other_writers(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    """Two handles writing in turn never lose each other's entries."""
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast)
    first, second = Vault.open(path, keys.writer), Vault.open(path, keys.writer)
    first.put("a", {"n": 1})
    second.put("b", {"n": 2})
    first.put("c", {"n": 3})
    assert Vault.open(path, keys.reader).names() == ["a", "b", "c"]


def test_put_cleans_temps_of_killed_writers(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast)
    stale = tmp_path / ".v.deadbeef0000.tmp"
    stale.write_bytes(b"half a vault")
    Vault.open(path, keys.writer).put("a", DOC)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".v")) == []


def test_file_modes_are_0600(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path, journal = tmp_path / "v", tmp_path / "j"
    Vault.create(path, keys.writer, kdf=fast).put("a", DOC)
    with SealedJournal.create(journal, keys.writer, kdf=fast) as sealed:
        sealed.append(DOC)
    for made in [path, journal, *tmp_path.glob("*.key"), *tmp_path.glob("*.lock")]:
        assert _mode(made) == 0o600, made


def test_key_text_formats(tmp_path: Path) -> None:
    key_file = generate_key_file(tmp_path / "k")
    assert (tmp_path / "k").read_text().strip().splitlines()[-1].startswith("hskey1")
    assert KeyFile(tmp_path / "k").material() == key_file.material()
    with pytest.raises(VaultError, match="exists"):
        generate_key_file(tmp_path / "k")
    identity = generate_identity_file(tmp_path / "id")
    assert Identity.load(tmp_path / "id").recipient == identity.recipient
    text = str(identity.recipient)
    assert text.startswith("hspub1") and Recipient.from_string(text) == identity.recipient
    assert load_recipient(text) == load_recipient(str(tmp_path / "id")) == identity.recipient
    (tmp_path / "id.pub").write_text(f"# comment\n{text}\n")
    assert load_recipient(str(tmp_path / "id.pub")) == identity.recipient
    typo = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    with pytest.raises(VaultError, match="checksum"):
        Recipient.from_string(typo)
    with pytest.raises(VaultError):
        KeyFile(tmp_path / "id")  # an identity is not a key file
    with pytest.raises(VaultError):
        Identity.load(tmp_path / "k")
    assert "hssec1" not in repr(identity) and "hskey1" not in repr(key_file)


def test_low_order_recipient_is_refused(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "v", Recipient(bytes(32)))
    with pytest.raises(VaultError, match="invalid"):
        vault.put("a", DOC)


def test_errors_root_in_hyperseal_error() -> None:
    codes = {
        cls.exit_code
        for cls in vars(vault_pkg).values()
        if isinstance(cls, type) and issubclass(cls, VaultError)
    }
    assert codes == set(range(10, 20))
    assert issubclass(VaultError, HypersealError)


def test_key_mode_reported(keys: Any, fast: ScryptParams, tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=fast)
    expected = {"passphrase": KeyMode.PASSPHRASE, "key_file": KeyMode.KEY_FILE}
    assert inspect_file(path).key_mode == expected.get(keys.mode, KeyMode.RECIPIENT)


def test_new_files_are_created_where_hard_links_are_not_supported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT, some FUSE and network mounts refuse link(2): creating still works, still refuses
    to overwrite, and leaves no temporary file."""
    import errno

    from tuner.vault import KeyFile, Vault, generate_key_file

    def no_links(*args: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("tuner.vault.atomic.os.link", no_links)
    key = generate_key_file(tmp_path / "k.key")
    Vault.create(tmp_path / "v.hsv", key).put("best", {"lr": 0.1})
    assert Vault.open(tmp_path / "v.hsv", KeyFile(tmp_path / "k.key")).get("best") == {"lr": 0.1}
    with pytest.raises(VaultError, match="file exists; refusing to overwrite it"):
        Vault.create(tmp_path / "v.hsv", key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "v.hsv", "v.hsv.lock"]
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
