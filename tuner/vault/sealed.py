"""What an open vault and an open journal share: the file, its cipher, how it is read.

:func:`read_file` reads a sealed file from disk (bounded, see
:mod:`tuner.bounded`); :class:`SealedFile` is the base of
:class:`~tuner.vault.vault.Vault` and :class:`~tuner.vault.journal.SealedJournal`.
"""

from __future__ import annotations

from pathlib import Path

from tuner.bounded import read_sealed
from tuner.vault.cipher import RecordCipher
from tuner.vault.errors import KeyKindError, VaultError
from tuner.vault.format import KeyMode


def read_file(path: Path, what: str) -> bytes:
    """The bytes of a sealed file (``what``: ``vault`` or ``journal``): a regular file of at
    most :data:`~tuner.bounded.MAX_SEALED_FILE` bytes, with our errors otherwise."""
    hint = "create one with `hyperseal vault init`" if what == "vault" else "check the path"
    return read_sealed(path, what, hint, VaultError)


class SealedFile:
    """An open sealed file: its path, the name messages give it, and its record cipher."""

    def __init__(self, path: Path, cipher: RecordCipher) -> None:
        self.path = path
        self._where = str(path)
        self._cipher = cipher

    @property
    def key_mode(self) -> KeyMode:
        """How this file's keys are protected."""
        return self._cipher.header.mode

    @property
    def can_read(self) -> bool:
        """False when opened with only a public key."""
        return self._cipher.can_read

    def _public_key_only(self) -> KeyKindError:
        """The error for reading what was opened with a public key only."""
        return KeyKindError(
            f"{self._where}: opened with a public key only; reading needs the identity (--identity)"
        )


__all__ = ["SealedFile", "read_file"]
