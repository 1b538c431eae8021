"""Errors of the vault and the sealed journal.

    HypersealError                          (tuner.errors)
    └── VaultError                  exit 10  usage: missing file, bad key material, I/O...
        ├── EntryNotFoundError      exit 10  no entry of that name
        ├── DocumentError           exit 10  a document that cannot be stored (not a JSON object)
        ├── WrongKeyError           exit 11  the key does not open this file
        │   └── KeyKindError        exit 11  a key of the wrong kind for the file
        ├── TamperedError           exit 12  authentication failed or the structure is corrupt
        │   └── JournalOrderError   exit 19  journal records reordered, dropped or duplicated
        │       ├── JournalReorderedError
        │       ├── JournalDroppedError
        │       │   └── JournalCutError      records cut off the end (no authenticated end)
        │       └── JournalDuplicatedError
        ├── TruncatedError          exit 13  the file ends early
        │   └── JournalTornTailError exit 18 the journal's last record is incomplete (a crash)
        ├── UnknownVersionError     exit 14  a format version this hyperseal cannot read
        │   └── OldJournalFormatError        a journal of hyperseal 0.1: migrate it once
        ├── KdfParamsError          exit 15  scrypt parameters outside the accepted range
        ├── NotAVaultError          exit 16  the file is not a hyperseal vault or journal at all
        └── VaultLockedError        exit 17  another process is writing the file

Every message is one line: what went wrong, where (the file path), and how to
fix it. Messages never contain a passphrase, a key or a stored value.
"""

from __future__ import annotations

from tuner.errors import HypersealError


class VaultError(HypersealError):
    """Root of the vault's errors; raised as is for usage and I/O problems."""

    exit_code = 10


class EntryNotFoundError(VaultError):
    """The vault has no entry of that name."""

    exit_code = 10


class DocumentError(VaultError):
    """A document or entry name that cannot be stored (not a JSON object, bad name)."""

    exit_code = 10


class WrongKeyError(VaultError):
    """The passphrase, key file or identity does not open this file."""

    exit_code = 11


class KeyKindError(WrongKeyError):
    """The key is of the wrong kind for this file, or cannot do what was asked.

    For example a passphrase given for a key-file vault, or reading a
    recipient-sealed vault with only its public key.
    """

    exit_code = 11


class TamperedError(VaultError):
    """Authentication failed, or the file's structure is corrupt."""

    exit_code = 12


class TruncatedError(VaultError):
    """The file ends before its structure says it should."""

    exit_code = 13


class UnknownVersionError(VaultError):
    """The file uses a format version this hyperseal does not know."""

    exit_code = 14


class KdfParamsError(VaultError):
    """The scrypt parameters are outside the accepted range (checked before running scrypt)."""

    exit_code = 15


class NotAVaultError(VaultError):
    """The file is not a hyperseal vault or journal (or not the kind expected)."""

    exit_code = 16


class VaultLockedError(VaultError):
    """Another process holds the write lock of this file."""

    exit_code = 17


class JournalTornTailError(TruncatedError):
    """The journal ends with an incomplete record, as a crash mid-append leaves it.

    Every record before it authenticated. :meth:`SealedJournal.repair` (or
    ``hyperseal vault journal verify FILE --repair``) drops the torn bytes;
    nothing drops them silently.
    """

    exit_code = 18

    def __init__(self, message: str, *, offset: int, torn_bytes: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.torn_bytes = torn_bytes


class JournalOrderError(TamperedError):
    """Journal records authenticate one by one but their sequence is wrong."""

    exit_code = 19


class JournalReorderedError(JournalOrderError):
    """Journal records are present but out of order."""


class JournalDroppedError(JournalOrderError):
    """One or more journal records are missing."""


class JournalCutError(JournalDroppedError):
    """The journal does not end with its authenticated end: records were cut off its end
    (or a run of zero bytes covers complete records). Never repaired away."""


class OldJournalFormatError(UnknownVersionError):
    """A journal written by hyperseal 0.1 (format 1), which cannot prove it is complete;
    ``hyperseal vault journal migrate`` converts it once."""


class JournalDuplicatedError(JournalOrderError):
    """A journal record appears more than once."""


__all__ = [
    "DocumentError",
    "EntryNotFoundError",
    "JournalCutError",
    "JournalDroppedError",
    "JournalDuplicatedError",
    "JournalOrderError",
    "JournalReorderedError",
    "JournalTornTailError",
    "KdfParamsError",
    "KeyKindError",
    "NotAVaultError",
    "OldJournalFormatError",
    "TamperedError",
    "TruncatedError",
    "UnknownVersionError",
    "VaultError",
    "VaultLockedError",
    "WrongKeyError",
]
