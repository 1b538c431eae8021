"""Fixtures for the vault tests: fast scrypt, one key pair per key mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tuner.vault import (
    Identity,
    KeySource,
    Passphrase,
    ScryptParams,
    generate_identity_file,
    generate_key_file,
)

#: scrypt at the lowest accepted cost, so that every open takes milliseconds.
FAST = ScryptParams(log2_n=10)
PASSWORD = "s3cret-Passphrase-for-tests"
#: A value that must never show up in a sealed file.
SECRET = "lr=0.0123456789-SECRET-MARKER"

MODES = ("passphrase", "key_file", "recipient")


@dataclass(frozen=True)
class Keys:
    """The keys of one mode: ``writer`` seals, ``reader`` reads (the same but in recipient mode)."""

    mode: str
    writer: KeySource
    reader: KeySource
    folder: Path


def make_keys(mode: str, folder: Path) -> Keys:
    """Keys for ``mode`` with their files in ``folder``."""
    if mode == "passphrase":
        key = Passphrase(PASSWORD)
        return Keys(mode, key, key, folder)
    if mode == "key_file":
        key_file = generate_key_file(folder / "vault.key")
        return Keys(mode, key_file, key_file, folder)
    identity: Identity = generate_identity_file(folder / "identity.key")
    return Keys(mode, identity.recipient, identity, folder)


@pytest.fixture(params=MODES)
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> Keys:
    """Keys of each mode in turn."""
    return make_keys(request.param, tmp_path)


@pytest.fixture
def keys_for(tmp_path: Path) -> Callable[[str], Keys]:
    """A factory: ``keys_for("key_file")`` makes that mode's keys in ``tmp_path``."""
    return lambda mode: make_keys(mode, tmp_path)


@pytest.fixture
def fast() -> ScryptParams:
    """The cheapest accepted scrypt cost."""
    return FAST


@pytest.fixture
def password() -> str:
    """The passphrase the tests use."""
    return PASSWORD


@pytest.fixture
def secret() -> str:
    """A stored value that must never appear in a sealed file or an output."""
    return SECRET


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No passphrase or recipient from the developer's environment leaks into a test."""
    for name in ("HYPERSEAL_PASSPHRASE", "HYPERSEAL_NEW_PASSPHRASE", "HYPERSEAL_RECIPIENT"):
        monkeypatch.delenv(name, raising=False)
    yield
