"""Key sources: a passphrase, a random key file, an X25519 recipient or identity.

* :class:`Passphrase` and :class:`KeyFile` read and write (symmetric).
* :class:`Recipient` (a public key, ``hspub1...``) can only seal: a tuning
  cluster holding it adds entries and journal records it cannot read back.
* :class:`Identity` (the private key, kept in a 0600 file) reads what was
  sealed to its recipient, and can seal too.

Text formats (one key per file; ``#`` lines are comments)::

    hskey1<base64url(32-byte key || 4-byte check)>      key file
    hssec1<base64url(32-byte X25519 private || check)>  identity file
    hspub1<base64url(32-byte X25519 public || check)>   public key string

``check`` is the first 4 bytes of SHA-256(prefix || key): it catches typos and
truncated copies, so a mistyped public key never seals data to nobody.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from tuner.bounded import read_small
from tuner.vault import crypto
from tuner.vault.atomic import atomic_write, create_exclusive
from tuner.vault.errors import VaultError

_KEY_PREFIX = "hskey1"
_SECRET_PREFIX = "hssec1"
_PUBLIC_PREFIX = "hspub1"


def _encode(prefix: str, raw: bytes) -> str:
    check = hashlib.sha256(prefix.encode() + raw).digest()[:4]
    return prefix + base64.urlsafe_b64encode(raw + check).decode().rstrip("=")


def _decode(prefix: str, text: str, what: str, where: str) -> bytes:
    if not text.startswith(prefix):
        raise VaultError(f"{where}: not a hyperseal {what} (expected text starting {prefix})")
    body = text[len(prefix) :]
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise VaultError(f"{where}: {what} is not valid base64url; copy it again") from None
    raw, check = blob[:-4], blob[-4:]
    if len(raw) != crypto.KEY_LEN or hashlib.sha256(prefix.encode() + raw).digest()[:4] != check:
        raise VaultError(f"{where}: {what} is damaged (checksum fails); copy it again")
    return raw


def _key_line(path: Path, prefix: str, what: str) -> str:
    raw = read_small(path, f"{what} file", VaultError)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise VaultError(f"{path}: not a hyperseal {what} file") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1:
        raise VaultError(f"{path}: not a hyperseal {what} file (expected one {prefix}... line)")
    return lines[0]


class Passphrase:
    """A passphrase, stretched with scrypt into the key-encryption key.

    The text is normalised to Unicode NFC before use, so the same passphrase
    typed on different systems opens the same vault. ``repr`` never shows it.

    Args:
        secret: the passphrase; must not be empty.
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        if not isinstance(secret, str) or not secret:
            raise VaultError("the passphrase is empty; choose a non-empty passphrase")
        try:
            secret.encode("utf-8")
        except UnicodeEncodeError:
            # Undecodable bytes from the environment or a piped stdin (surrogate escapes).
            raise VaultError(
                "the passphrase is not valid UTF-8 text; check the encoding of"
                " $HYPERSEAL_PASSPHRASE or of what was piped in"
            ) from None
        self._secret = secret

    def encoded(self) -> bytes:
        """The bytes scrypt receives (NFC, UTF-8). Keep them out of logs."""
        from tuner.vault.kdf import normalize_passphrase

        return normalize_passphrase(self._secret)

    def __repr__(self) -> str:
        return "Passphrase(<hidden>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Passphrase) and other.encoded() == self.encoded()

    def __hash__(self) -> int:
        return hash(("Passphrase", self.encoded()))


class KeyFile:
    """A random 256-bit key read from a key file (see :func:`generate_key_file`).

    Args:
        path: the key file.

    Raises:
        VaultError: the file is missing or is not a hyperseal key file.
    """

    __slots__ = ("_key", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._key = _decode(_KEY_PREFIX, _key_line(self.path, _KEY_PREFIX, "key"), "key", str(path))

    def material(self) -> bytes:
        """The raw 32-byte key. Keep it out of logs."""
        return self._key

    def __repr__(self) -> str:
        return f"KeyFile({str(self.path)!r})"


def generate_key_file(path: str | os.PathLike[str], *, overwrite: bool = False) -> KeyFile:
    """Write a new random key file (mode 0600) and return it.

    Args:
        path: where to write it.
        overwrite: replace an existing file (its vaults become unreadable).

    Raises:
        VaultError: the file exists and ``overwrite`` is false.
    """
    target = Path(path)
    line = _encode(_KEY_PREFIX, crypto.random_bytes(crypto.KEY_LEN))
    text = (
        "# hyperseal key file: a random 256-bit key.\n"
        "# Anyone holding this file can open the vaults and journals sealed with it.\n"
        f"{line}\n"
    )
    (atomic_write if overwrite else create_exclusive)(target, text.encode("ascii"))
    return KeyFile(target)


class Recipient:
    """An X25519 public key: seals data that only the matching :class:`Identity` reads.

    Args:
        public: the 32-byte public key.
    """

    __slots__ = ("public",)

    def __init__(self, public: bytes) -> None:
        if len(public) != crypto.X25519_LEN:
            raise VaultError("a public key has 32 bytes")
        self.public = bytes(public)

    @classmethod
    def from_string(cls, text: str) -> Recipient:
        """Parse ``hspub1...`` (as printed by ``hyperseal vault keygen``).

        Raises:
            VaultError: not a public key, or its checksum fails.
        """
        return cls(_decode(_PUBLIC_PREFIX, text.strip(), "public key", "recipient"))

    def __str__(self) -> str:
        return _encode(_PUBLIC_PREFIX, self.public)

    def __repr__(self) -> str:
        return f"Recipient({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipient) and other.public == self.public

    def __hash__(self) -> int:
        return hash(("Recipient", self.public))


class Identity:
    """An X25519 private key: reads what was sealed to :attr:`recipient`.

    Create one with :meth:`generate` (then :meth:`save`) or
    :func:`generate_identity_file`; read one with :meth:`load`.
    """

    __slots__ = ("_private", "recipient")

    def __init__(self, private: bytes) -> None:
        if len(private) != crypto.X25519_LEN:
            raise VaultError("an identity has 32 bytes")
        self._private = bytes(private)
        self.recipient = Recipient(crypto.x25519_public(self._private))

    @classmethod
    def generate(cls) -> Identity:
        """A fresh random identity (not yet saved)."""
        return cls(crypto.x25519_generate())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Identity:
        """Read an identity file.

        Raises:
            VaultError: missing file or not an identity file.
        """
        where = str(path)
        line = _key_line(Path(path), _SECRET_PREFIX, "identity")
        return cls(_decode(_SECRET_PREFIX, line, "identity", where))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the identity to ``path`` (mode 0600), its public key in a comment.

        Raises:
            VaultError: the file exists and ``overwrite`` is false.
        """
        text = (
            "# hyperseal identity (X25519 private key). Keep it secret:\n"
            "# anyone holding this file reads what was sealed to its public key.\n"
            f"# public key: {self.recipient}\n"
            f"{_encode(_SECRET_PREFIX, self._private)}\n"
        )
        (atomic_write if overwrite else create_exclusive)(Path(path), text.encode("ascii"))

    def material(self) -> bytes:
        """The raw private key. Keep it out of logs."""
        return self._private

    def __repr__(self) -> str:
        return f"Identity(recipient={str(self.recipient)!r})"


def generate_identity_file(path: str | os.PathLike[str], *, overwrite: bool = False) -> Identity:
    """Generate an identity, save it to ``path`` (mode 0600) and return it."""
    identity = Identity.generate()
    identity.save(path, overwrite=overwrite)
    return identity


def load_recipient(value: str) -> Recipient:
    """A recipient from a public key string, or from a file holding one (or an identity).

    Args:
        value: ``hspub1...``, or the path of a file with such a line (a
            ``.pub`` file, or an identity file, whose public key is derived).

    Raises:
        VaultError: neither a public key nor a readable file with one.
    """
    text = value.strip()
    if text.startswith(_PUBLIC_PREFIX):
        return Recipient.from_string(text)
    path = Path(value)
    if not path.is_file():
        raise VaultError(
            "the recipient given is neither a public key (hspub1...) nor a file holding one;"
            " pass the line `hyperseal vault keygen` printed"
        )
    raw = read_small(path, "public key file", VaultError)
    try:
        content = raw.decode("ascii")
    except UnicodeDecodeError:
        raise VaultError(f"{path}: cannot read a public key from this file") from None
    for line in content.splitlines():
        line = line.strip()
        if line.startswith(_SECRET_PREFIX):
            return Identity(_decode(_SECRET_PREFIX, line, "identity", str(path))).recipient
    for line in content.splitlines():
        line = line.strip()
        if line.startswith(_PUBLIC_PREFIX):
            return Recipient(_decode(_PUBLIC_PREFIX, line, "public key", str(path)))
    raise VaultError(f"{path}: no public key (hspub1...) in this file")


KeySource = Passphrase | KeyFile | Recipient | Identity
"""Anything that opens or seals a vault or journal."""
