"""What a sealed file says about itself without a key (its header; nothing secret)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tuner.vault.format import FileKind, KeyMode, parse_header
from tuner.vault.kdf import ScryptParams
from tuner.vault.keys import Recipient


@dataclass(frozen=True)
class SealedFileInfo:
    """The public facts of a vault or journal header.

    Attributes:
        path: the file.
        kind: vault or journal.
        version: format version.
        key_mode: passphrase, key file or recipient.
        file_id: the random file id (hex).
        kdf: scrypt parameters (passphrase mode).
        recipient: the public key it is sealed to (recipient mode).
    """

    path: Path
    kind: FileKind
    version: int
    key_mode: KeyMode
    file_id: str
    kdf: ScryptParams | None
    recipient: Recipient | None


def inspect_file(path: str | os.PathLike[str]) -> SealedFileInfo:
    """Read and check the header of a vault or journal; needs no key.

    Used to decide which key to ask for. Nothing after the header is read
    or authenticated.

    Raises:
        VaultError: missing file; NotAVaultError, UnknownVersionError,
        TruncatedError, TamperedError for a bad header.
    """
    from tuner.vault.vault import read_file

    target = Path(path)
    data = read_file(target, "file")
    kind = next((k for k in FileKind if data.startswith(k.magic)), FileKind.VAULT)
    header = parse_header(data, kind, str(target))
    return SealedFileInfo(
        path=target,
        kind=kind,
        version=header.version,
        key_mode=header.mode,
        file_id=header.file_id.hex(),
        kdf=header.scrypt,
        recipient=Recipient(header.recipient) if header.recipient is not None else None,
    )
