"""No stored value in sealed bytes; no passphrase in any output, message or repr."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tuner.main import app
from tuner.vault import (
    KdfParamsError,
    Passphrase,
    ScryptParams,
    SealedJournal,
    Vault,
    VaultError,
)

FAST = ScryptParams(log2_n=10)


def _needles(secret: str) -> list[bytes]:
    """The secret and recognisable pieces of it, as bytes in a few encodings."""
    pieces = [secret, secret[:12], secret[-12:], "0.0123456789", "weight_decay_SECRET"]
    out = []
    for piece in pieces:
        out += [piece.encode("utf-8"), piece.encode("utf-16-le"), piece.encode().hex().encode()]
    return out


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_sealed_files_never_hold_a_stored_value(keys: Any, secret: str, tmp_path: Path) -> None:
    folder = tmp_path / "sealed"
    folder.mkdir()
    document = {"weight_decay_SECRET": secret, "config": {"note": secret}}
    vault_path, journal_path = folder / "best.vault", folder / "trials.journal"
    Vault.create(vault_path, keys.writer, kdf=FAST).put("best", document)
    Vault.open(vault_path, keys.writer).put("again", document)
    with SealedJournal.create(journal_path, keys.writer, kdf=FAST) as journal:
        for n in range(3):
            journal.append({"trial": n, **document})
    if keys.mode != "recipient":
        Vault.open(vault_path, keys.reader).rotate(keys.writer, kdf=FAST)
    files = _all_bytes(folder)
    assert {"best.vault", "trials.journal"} <= set(files)
    for name, data in files.items():
        for needle in _needles(secret):
            assert needle not in data, f"{needle!r} found in {name}"
    assert Vault.open(vault_path, keys.reader).get("best") == document


def test_passphrase_never_in_reprs_or_errors(fast: Any, password: str, tmp_path: Path) -> None:
    key = Passphrase(password)
    assert password not in repr(key) and password not in str(key)
    path = tmp_path / "v"
    vault = Vault.create(path, key, kdf=fast)
    assert password not in repr(vault)
    messages = []
    for attempt in [password + "x", password.upper(), password[:-1]]:
        with pytest.raises(VaultError) as info:
            Vault.open(path, Passphrase(attempt))
        messages.append(str(info.value))
        assert attempt not in str(info.value)
    with pytest.raises(KdfParamsError) as kdf_error:
        Vault.create(tmp_path / "w", key, kdf=ScryptParams(log2_n=30))
    messages.append(str(kdf_error.value))
    for message in messages:
        assert password not in message
        assert "\n" not in message


def test_cli_never_prints_the_passphrase_or_stored_values(
    secret: str, password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    vault = tmp_path / "v"
    config = tmp_path / "c.yaml"
    config.write_text(f"lr: 0.02\nnote: {secret}\n")
    pass_file = tmp_path / "pass"
    pass_file.write_text(password + "\n")
    outputs = []

    def invoke(*args: Any, **kwargs: Any) -> Any:
        result = runner.invoke(app, ["vault", *map(str, args)], **kwargs)
        outputs.append(result.output)
        return result

    invoke("init", vault, "--kdf-log2n", "10", input=f"{password}\n{password}\n")
    invoke("put", vault, "best", config, "--passphrase-file", pass_file)
    invoke("list", vault, env={"HYPERSEAL_PASSPHRASE": password})
    invoke("verify", vault, input=f"{password}\n")
    invoke("verify", vault, input="wrong\n")
    invoke("rotate", vault, "--kdf-log2n", "10", input=f"{password}\n{password}2\n{password}2\n")
    invoke("verify", vault, env={"HYPERSEAL_PASSPHRASE": password})  # now wrong
    invoke("show", vault, "best", env={"HYPERSEAL_PASSPHRASE": password + "2"})  # refused: a pipe
    invoke("--debug", "list", vault, env={"HYPERSEAL_PASSPHRASE": "nope"})
    for output in outputs:
        assert password not in output
        assert secret not in output
    # and the values did reach the vault
    assert Vault.open(vault, Passphrase(password + "2")).get("best")["note"] == secret


def test_passphrase_not_in_argv_options(tmp_path: Path) -> None:
    """There is no option that takes a passphrase itself: only files, env and the prompt."""
    result = CliRunner().invoke(app, ["vault", "init", "--help"])
    assert "--passphrase-file" in result.stdout
    assert "--passphrase " not in result.stdout and "--password" not in result.stdout
    result = CliRunner().invoke(
        app, ["vault", "init", str(tmp_path / "v"), "--passphrase", "visible"]
    )
    assert result.exit_code != 0 and not (tmp_path / "v").exists()


def test_no_plaintext_temp_files_left(keys: Any, secret: str, tmp_path: Path) -> None:
    path = tmp_path / "v"
    Vault.create(path, keys.writer, kdf=FAST).put("a", {"s": secret})
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert leftovers == []
