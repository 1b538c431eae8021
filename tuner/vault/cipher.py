"""From a header and a key source to a :class:`RecordCipher` that seals and opens frames.

Symmetric modes (passphrase, key file): a random 32-byte data key, wrapped
in the header by the key-encryption key (KEK), encrypts every record with
AES-256-GCM under a fresh random nonce.

Recipient mode: no data key. Each record is sealed on its own to the
header's X25519 public key with a fresh ephemeral key (as age does for its
file key), so a writer holding only the public key can add records and
cannot read any.

The associated data of every record is the whole header followed by the
record's sequence number.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

from tuner.vault import crypto
from tuner.vault.errors import KeyKindError, TamperedError, VaultError, WrongKeyError
from tuner.vault.format import (
    FILE_ID_LEN,
    JOURNAL_VERSION,
    SALT_LEN,
    VERSION,
    FileKind,
    Frame,
    Header,
    KeyMode,
)
from tuner.vault.kdf import DEFAULT_LIMITS, DEFAULT_SCRYPT, KdfLimits, ScryptParams, scrypt_kek
from tuner.vault.keys import Identity, KeyFile, KeySource, Passphrase, Recipient


class RecordCipher:
    """Seals and opens the record frames of one file.

    Attributes:
        header: the file's header (its bytes are part of every record's AAD).
        can_read: whether :meth:`open` works (false for a bare :class:`Recipient`).
    """

    def __init__(
        self,
        header: Header,
        *,
        data_key: bytes | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.header = header
        self._aead = crypto.aead(data_key) if data_key is not None else None
        self._identity = identity
        self.can_read = data_key is not None or identity is not None

    def seal(self, seq: int, plaintext: bytes) -> bytes:
        """Seal one record's plaintext as frame number ``seq`` (fresh nonce or ephemeral key)."""
        aad = self.header.record_aad(seq)
        if self._aead is not None:
            return crypto.seal(self._aead, plaintext, aad)
        assert self.header.recipient is not None
        sealed = crypto.seal_to_recipient(self.header.recipient, plaintext, aad)
        if sealed is None:
            raise VaultError("the recipient public key is invalid (a low-order point)")
        return sealed

    def seal_end(self, aad: bytes) -> bytes:
        """A journal end slot: the AEAD of empty plaintext over ``aad`` (a tag, in effect)."""
        if self._aead is not None:
            return crypto.seal(self._aead, b"", aad)
        assert self.header.recipient is not None
        sealed = crypto.seal_to_recipient(self.header.recipient, b"", aad)
        if sealed is None:
            raise VaultError("the recipient public key is invalid (a low-order point)")
        return sealed

    def open_end(self, slot: bytes, aad: bytes) -> bool:
        """Whether ``slot`` is a valid end slot over ``aad``.

        Raises:
            KeyKindError: this cipher only seals.
        """
        if self._aead is not None:
            return crypto.unseal(self._aead, slot, aad) == b""
        if self._identity is None:
            raise KeyKindError(
                "this file is sealed to a public key; checking its end needs the identity file"
                " (--identity)"
            )
        public = self.header.recipient
        assert public is not None
        return crypto.unseal_from_sender(self._identity.material(), public, slot, aad) == b""

    def open(self, frame: Frame) -> bytes | None:
        """The plaintext of ``frame``, or ``None`` when it does not authenticate.

        Raises:
            KeyKindError: this cipher only seals (a public key without its identity).
        """
        aad = self.header.record_aad(frame.seq)
        if self._aead is not None:
            return crypto.unseal(self._aead, frame.sealed, aad)
        if self._identity is None:
            raise KeyKindError(
                "this file is sealed to a public key; reading it needs the identity file"
                " (--identity), the public key only adds records"
            )
        assert self.header.recipient is not None
        return crypto.unseal_from_sender(
            self._identity.material(), self.header.recipient, frame.sealed, aad
        )


def _kek(key: Passphrase | KeyFile, header: Header) -> bytes:
    if isinstance(key, Passphrase):
        assert header.scrypt is not None and header.salt is not None
        return scrypt_kek(key.encoded(), header.salt, header.scrypt)
    return crypto.hkdf(key.material(), salt=header.file_id, info=crypto.INFO_KEY_FILE)


def new_file(
    kind: FileKind,
    key: KeySource,
    where: str,
    *,
    kdf: ScryptParams | None = None,
    limits: KdfLimits = DEFAULT_LIMITS,
    file_id: bytes | None = None,
) -> RecordCipher:
    """Make a fresh header (new salt, new data key) for ``key`` and its cipher.

    Args:
        kind: vault or journal.
        key: any key source; a :class:`Recipient` gives a write-only cipher.
        where: the file's path, for messages.
        kdf: scrypt parameters for a passphrase (default :data:`DEFAULT_SCRYPT`).
        limits: caps ``kdf`` must respect (the same that opening will check).
        file_id: keep this file id (rotation); a random one by default.

    Raises:
        KdfParamsError: ``kdf`` outside ``limits``.
    """
    file_id = file_id if file_id is not None else crypto.random_bytes(FILE_ID_LEN)
    version = JOURNAL_VERSION if kind is FileKind.JOURNAL else VERSION
    if isinstance(key, (Recipient, Identity)):
        recipient = key.recipient if isinstance(key, Identity) else key
        header = Header(kind, KeyMode.RECIPIENT, file_id, version, recipient=recipient.public)
        return RecordCipher(header, identity=key if isinstance(key, Identity) else None)
    if isinstance(key, Passphrase):
        params = kdf if kdf is not None else DEFAULT_SCRYPT
        limits.check(params, where)
        salt = crypto.random_bytes(SALT_LEN)
        draft = Header(kind, KeyMode.PASSPHRASE, file_id, version, scrypt=params, salt=salt)
    elif isinstance(key, KeyFile):
        draft = Header(kind, KeyMode.KEY_FILE, file_id, version)
    else:
        raise TypeError(f"not a key source: {type(key).__name__}")
    kek = _kek(key, draft)
    data_key = crypto.random_bytes(crypto.KEY_LEN)
    draft = replace(draft, key_check=crypto.key_check(kek, file_id))
    header = replace(draft, wrapped_key=crypto.wrap_key(kek, data_key, draft.wrap_aad))
    return RecordCipher(header, data_key=data_key)


_HOW = {
    KeyMode.PASSPHRASE: "its passphrase (--passphrase-file, HYPERSEAL_PASSPHRASE or the prompt)",
    KeyMode.KEY_FILE: "its key file (--key-file)",
    KeyMode.RECIPIENT: "its identity (--identity) to read, or its public key to add records",
}


def unlock(
    header: Header,
    key: KeySource,
    where: str,
    *,
    limits: KdfLimits = DEFAULT_LIMITS,
) -> RecordCipher:
    """Check ``key`` against ``header`` and return the file's cipher.

    The scrypt parameters are checked against ``limits`` before scrypt runs.

    Raises:
        KeyKindError: the key is of the wrong kind for this file.
        KdfParamsError: the header's scrypt parameters are over the caps.
        WrongKeyError: the key is not this file's.
        TamperedError: the key is right but the wrapped data key fails authentication.
    """
    mode = header.mode
    wanted: tuple[type, ...] = {
        KeyMode.PASSPHRASE: (Passphrase,),
        KeyMode.KEY_FILE: (KeyFile,),
        KeyMode.RECIPIENT: (Recipient, Identity),
    }[mode]
    if not isinstance(key, wanted):
        raise KeyKindError(f"{where}: sealed with a {mode.describe()}; open it with {_HOW[mode]}")
    if isinstance(key, (Recipient, Identity)):
        recipient = key.recipient if isinstance(key, Identity) else key
        if recipient.public != header.recipient:
            assert header.recipient is not None
            raise WrongKeyError(
                f"{where}: sealed to public key {Recipient(header.recipient)}, not to the key given"
            )
        return RecordCipher(header, identity=key if isinstance(key, Identity) else None)
    assert isinstance(key, (Passphrase, KeyFile))
    if isinstance(key, Passphrase):
        assert header.scrypt is not None
        limits.check(header.scrypt, where)
    kek = _kek(key, header)
    assert header.key_check is not None and header.wrapped_key is not None
    if not hmac.compare_digest(crypto.key_check(kek, header.file_id), header.key_check):
        what = "passphrase" if isinstance(key, Passphrase) else f"key file {key.path}"
        raise WrongKeyError(f"{where}: wrong {what}; nothing was read or changed")
    data_key = crypto.unwrap_key(kek, header.wrapped_key, header.wrap_aad)
    if data_key is None:
        raise TamperedError(f"{where}: the sealed data key fails authentication (tampered)")
    return RecordCipher(header, data_key=data_key)
