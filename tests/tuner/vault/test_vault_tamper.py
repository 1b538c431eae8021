"""Damaged and hostile vault files: every byte flipped, every truncation, bad versions and KDFs."""

from __future__ import annotations

import hashlib
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from tuner.vault import (
    KdfLimits,
    KdfParamsError,
    NotAVaultError,
    Passphrase,
    SealedJournal,
    TamperedError,
    TruncatedError,
    UnknownVersionError,
    Vault,
)
from tuner.vault.format import PREFIX_LEN, KeyMode, header_length

DETECTED = (TamperedError, TruncatedError, NotAVaultError, UnknownVersionError)


def _small_vault(keys: Any, fast: Any, path: Path) -> bytes:
    Vault.create(path, keys.writer, kdf=fast).put("best", {"lr": 0.02, "wd": 0.0005})
    if keys.mode == "recipient":
        Vault.open(path, keys.writer).put("other", {"lr": 0.1})
    return path.read_bytes()


def _rehash(data: bytes, mode: KeyMode = KeyMode.PASSPHRASE) -> bytes:
    """Recompute the header checksum, as a deliberate forger would."""
    end = header_length(mode)
    body = data[: end - 32]
    return body + hashlib.sha256(body).digest() + data[end:]


def test_every_single_byte_flip_is_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "v"
    original = _small_vault(keys, fast, path)
    assert Vault.open(path, keys.reader).get("best") == {"lr": 0.02, "wd": 0.0005}
    for index in range(len(original)):
        for mask in (0xFF, 0x01) if index < 10 else (0xFF,):  # magic, version, mode: both
            damaged = bytearray(original)
            damaged[index] ^= mask
            path.write_bytes(bytes(damaged))
            with pytest.raises(DETECTED):
                Vault.open(path, keys.reader)


def test_every_truncation_is_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "v"
    original = _small_vault(keys, fast, path)
    for length in range(len(original)):
        path.write_bytes(original[:length])
        with pytest.raises(TruncatedError):
            Vault.open(path, keys.reader)
        with pytest.raises(TruncatedError):
            Vault.open(path, keys.writer)


def test_trailing_bytes_are_detected(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "v"
    original = _small_vault(keys, fast, path)
    path.write_bytes(original + b"\x00")
    with pytest.raises(TamperedError, match="unexpected bytes"):
        Vault.open(path, keys.reader)


def test_body_from_another_vault_is_detected(fast: Any, tmp_path: Path) -> None:
    key = Passphrase("one passphrase for both")
    first, second = tmp_path / "a", tmp_path / "b"
    Vault.create(first, key, kdf=fast).put("a", {"x": 1})
    Vault.create(second, key, kdf=fast).put("b", {"x": 2})
    a, b = first.read_bytes(), second.read_bytes()
    size = header_length(KeyMode.PASSPHRASE)
    first.write_bytes(a[:size] + b[size:])
    with pytest.raises(TamperedError, match="fails authentication"):
        Vault.open(first, key)


def test_recipient_records_moved_or_dropped_are_detected(keys_for: Any, tmp_path: Path) -> None:
    keys = keys_for("recipient")
    path = tmp_path / "v"
    Vault.create(path, keys.writer)
    for n in range(3):
        Vault.open(path, keys.writer).put(f"e{n}", {"n": n})
    data = path.read_bytes()
    start = header_length(KeyMode.RECIPIENT) + 4
    frames, pos = [], start
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        frames.append(data[pos : pos + 16 + length])
        pos += 16 + length
    head = data[: start - 4]
    for body in ([frames[1], frames[0], frames[2]], [frames[0], frames[2]]):
        path.write_bytes(head + struct.pack(">I", len(body)) + b"".join(body))
        with pytest.raises(TamperedError, match="sequence number"):
            Vault.open(path, keys.reader)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version(version: int, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "v"
    key = Passphrase("x")
    Vault.create(path, key, kdf=fast)
    data = bytearray(path.read_bytes())
    data[8] = version
    path.write_bytes(_rehash(bytes(data)))
    with pytest.raises(UnknownVersionError, match=f"unknown format version {version}") as info:
        Vault.open(path, key)
    assert info.value.exit_code == 14
    if version > 1:
        assert "upgrade" in str(info.value)


@pytest.mark.parametrize(
    ("log2_n", "r", "p"),
    [(40, 8, 1), (21, 8, 1), (17, 2**31, 1), (17, 8, 2**31), (20, 16, 1), (19, 8, 16), (4, 8, 1)],
)
def test_kdf_over_the_cap_is_rejected_before_scrypt(
    log2_n: int, r: int, p: int, fast: Any, tmp_path: Path
) -> None:
    path = tmp_path / "v"
    key = Passphrase("x")
    Vault.create(path, key, kdf=fast)
    data = bytearray(path.read_bytes())
    struct.pack_into(">BII", data, PREFIX_LEN, log2_n, r, p)
    path.write_bytes(_rehash(bytes(data)))
    start = time.perf_counter()
    with pytest.raises(KdfParamsError, match="scrypt parameters refused") as info:
        Vault.open(path, key)
    assert time.perf_counter() - start < 0.5
    assert info.value.exit_code == 15


def test_wider_limits_open_a_costly_vault(tmp_path: Path) -> None:
    path = tmp_path / "v"
    key = Passphrase("x")
    from tuner.vault import ScryptParams

    costly = ScryptParams(log2_n=11, r=8, p=1)
    tight = KdfLimits(max_log2_n=10)
    Vault.create(path, key, kdf=costly).put("a", {"x": 1})
    with pytest.raises(KdfParamsError):
        Vault.open(path, key, limits=tight)
    assert Vault.open(path, key).get("a") == {"x": 1}


@pytest.mark.parametrize(
    "content",
    [
        b"{}",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"hello world, not a vault",
        b"\x89HSVAULX" + bytes(300),
    ],
)
def test_not_a_vault(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "v"
    path.write_bytes(content)
    with pytest.raises(NotAVaultError) as info:
        Vault.open(path, Passphrase("x"))
    assert info.value.exit_code == 16


def test_a_journal_is_not_a_vault(fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "j"
    SealedJournal.create(path, Passphrase("x"), kdf=fast).close()
    with pytest.raises(NotAVaultError, match="sealed journal, not a vault"):
        Vault.open(path, Passphrase("x"))
    with pytest.raises(NotAVaultError, match="sealed vault, not a journal"):
        Vault.create(tmp_path / "v", Passphrase("x"), kdf=fast)
        SealedJournal.open(tmp_path / "v", Passphrase("x"))


def test_failed_opens_write_nothing(keys: Any, fast: Any, tmp_path: Path) -> None:
    path = tmp_path / "v"
    original = _small_vault(keys, fast, path)
    damaged = bytearray(original)
    damaged[-1] ^= 1
    path.write_bytes(bytes(damaged))
    with pytest.raises(TamperedError):
        Vault.open(path, keys.reader)
    assert path.read_bytes() == bytes(damaged)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
