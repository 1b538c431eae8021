"""Which key options fit which sealed file: the rules behind every command's key options.

A sealed file's header says how it is keyed (no key needed to read it); the
options a caller gives (``--passphrase-file``, ``--key-file``,
``--identity``, ``--recipient``) must fit that key mode, and at most one may
be given. These checks neither prompt nor print: :mod:`tuner.vault.cli_keys`
calls them, then asks for a passphrase or loads the key file it names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tuner.vault.errors import KeyKindError, VaultError
from tuner.vault.format import KeyMode
from tuner.vault.info import inspect_file
from tuner.vault.keys import Recipient, load_recipient

RECIPIENT_ENV = "HYPERSEAL_RECIPIENT"


def at_most_one(prefix: str = "", **given: object) -> None:
    """Refuse more than one of the options ``given`` (name: value; ``None`` is not given).

    Args:
        prefix: what the options are called after ``--`` (``new-`` for a rotation's new key).

    Raises:
        VaultError: two or more were given; the message names them as flags.
    """
    named = [f"--{prefix}{k.replace('_', '-')}" for k, v in given.items() if v is not None]
    if len(named) > 1:
        raise VaultError(f"give only one of {', '.join(named)}")


@dataclass(frozen=True)
class KeyOptions:
    """The key options a command was given (``None``: not given).

    Attributes:
        passphrase_file: ``--passphrase-file``.
        key_file: ``--key-file``.
        identity: ``--identity``.
        recipient: ``--recipient`` (a public key, or a file holding one); adding only.
    """

    passphrase_file: Path | None = None
    key_file: Path | None = None
    identity: Path | None = None
    recipient: str | None = None


def check_reading_options(path: Path, options: KeyOptions) -> KeyMode:
    """How the file at ``path`` is keyed, once the options given are checked to fit it: a
    passphrase (from ``options.passphrase_file`` or elsewhere), a key file, or an identity.

    Raises:
        VaultError: more than one option given, or the file cannot be read.
        KeyKindError: the options given do not fit the file's key mode.
    """
    key_file, identity = options.key_file, options.identity
    at_most_one(passphrase_file=options.passphrase_file, key_file=key_file, identity=identity)
    info = inspect_file(path)
    mode = info.key_mode
    if mode is KeyMode.PASSPHRASE and (key_file is not None or identity is not None):
        raise KeyKindError(f"{path}: sealed with a passphrase, not a key file or identity")
    if mode is KeyMode.KEY_FILE and key_file is None:
        raise KeyKindError(f"{path}: sealed with a key file; pass --key-file FILE")
    if mode is KeyMode.RECIPIENT and identity is None:
        raise KeyKindError(
            f"{path}: sealed to public key {info.recipient}; reading it needs --identity FILE"
        )
    return mode


def check_writing_options(path: Path, options: KeyOptions) -> KeyMode:
    """How the file at ``path`` is keyed, once the options for adding to it are checked: as
    for reading (:func:`check_reading_options`), except that a file sealed to a public key
    takes an identity or a recipient (see :func:`pinned_recipient`).

    Raises:
        VaultError: more than one option given, or the file cannot be read.
        KeyKindError: the options given do not fit the file's key mode.
    """
    info = inspect_file(path)
    if info.key_mode is not KeyMode.RECIPIENT:
        if options.recipient is not None:
            raise KeyKindError(
                f"{path}: sealed with a {info.key_mode.describe()}, not a public key;"
                " drop --recipient"
            )
        return check_reading_options(path, options)
    at_most_one(**vars(options))
    if options.passphrase_file is not None or options.key_file is not None:
        raise KeyKindError(f"{path}: sealed to a public key; pass --recipient or --identity")
    return info.key_mode


def recipient_option(recipient: str | None) -> Recipient | None:
    """The public key ``recipient`` gives (a key or a file holding one), else the one in
    ``$HYPERSEAL_RECIPIENT``, else None."""
    value = recipient if recipient is not None else os.environ.get(RECIPIENT_ENV) or None
    return load_recipient(value) if value is not None else None


def pinned_recipient(path: Path, recipient: str | None) -> Recipient:
    """The public key a writer was told to trust (:func:`recipient_option`), to add to the
    file at ``path`` sealed to a public key; opening then checks it is the file's own.

    Raises:
        KeyKindError: no public key given.
    """
    pinned = recipient_option(recipient)
    if pinned is None:
        raise KeyKindError(
            f"{path}: sealed to public key {inspect_file(path).recipient}; pass --recipient"
            f" PUBKEY (or ${RECIPIENT_ENV}) to confirm it is the key you expect, or"
            " --identity FILE"
        )
    return pinned


__all__ = [
    "RECIPIENT_ENV",
    "KeyOptions",
    "at_most_one",
    "check_reading_options",
    "check_writing_options",
    "pinned_recipient",
    "recipient_option",
]
