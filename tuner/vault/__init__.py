"""Encrypted, authenticated storage for winning configs and trial journals.

Two kinds of sealed files (layout in ``docs/vault-format.md``):

* :class:`Vault`: named JSON entries (a config, its metrics, a dataset
  fingerprint, a model hash...), rewritten atomically under a lock.
* :class:`SealedJournal`: an append-only file of JSON records (one per
  finished trial) that detects reordered, dropped, duplicated and torn
  records.

Both are sealed with AES-256-GCM under one of four key sources:

* :class:`Passphrase` (scrypt, parameters in the header, capped on read),
* :class:`KeyFile` (a random 256-bit key; :func:`generate_key_file`),
* :class:`Recipient` (an X25519 public key: seal only, cannot read back),
* :class:`Identity` (the matching private key: reads and seals;
  :func:`generate_identity_file`).

Example:
    >>> from tuner.vault import Passphrase, Vault, SealedJournal
    >>> key = Passphrase("correct horse battery staple")  # doctest: +SKIP
    >>> vault = Vault.create("best.vault", key)  # doctest: +SKIP
    >>> vault.put("fasterrcnn", {"config": {"lr": 0.02}, "map": 0.41})  # doctest: +SKIP
    >>> with SealedJournal.create("trials.journal", key) as journal:  # doctest: +SKIP
    ...     journal.append({"trial": 0, "config": {"lr": 0.02}, "map": 0.31})

Errors are in :mod:`tuner.vault.errors`; CLI-side key resolution for any
command is in :mod:`tuner.vault.cli_keys`. What each ``hyperseal vault``
command does is callable from Python too: :mod:`tuner.vault.commands`
(exports, rotations, journal verification and migration) and
:mod:`tuner.vault.documents` (reading and rendering YAML/JSON documents).
"""

from __future__ import annotations

from tuner.vault import errors
from tuner.vault.errors import *  # noqa: F403  (every error; listed in errors.__all__)
from tuner.vault.format import JOURNAL_VERSION, VERSION, FileKind, KeyMode
from tuner.vault.info import SealedFileInfo, inspect_file
from tuner.vault.journal import (
    Completeness,
    JournalCheckpoint,
    SealedJournal,
    TornTail,
    migrate_journal,
)
from tuner.vault.kdf import DEFAULT_LIMITS, DEFAULT_SCRYPT, KdfLimits, ScryptParams
from tuner.vault.keys import (
    Identity,
    KeyFile,
    KeySource,
    Passphrase,
    Recipient,
    generate_identity_file,
    generate_key_file,
    load_recipient,
)
from tuner.vault.vault import EntryInfo, Vault, VerifyReport, verify

__all__ = [
    *errors.__all__,
    "DEFAULT_LIMITS",
    "DEFAULT_SCRYPT",
    "JOURNAL_VERSION",
    "VERSION",
    "Completeness",
    "EntryInfo",
    "FileKind",
    "Identity",
    "JournalCheckpoint",
    "KdfLimits",
    "KeyFile",
    "KeyMode",
    "KeySource",
    "Passphrase",
    "Recipient",
    "ScryptParams",
    "SealedFileInfo",
    "SealedJournal",
    "TornTail",
    "Vault",
    "VerifyReport",
    "generate_identity_file",
    "generate_key_file",
    "inspect_file",
    "load_recipient",
    "migrate_journal",
    "verify",
]
