"""The cryptographic primitives, in one place: AES-256-GCM, HKDF-SHA256, X25519.

Everything here returns ``None`` (never raises) when authentication fails, so
the callers, who know the file and the record, raise the precise error.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
X25519_LEN = 32

INFO_WRAP = b"hyperseal/v1/wrap"
INFO_CHECK = b"hyperseal/v1/key-check"
INFO_KEY_FILE = b"hyperseal/v1/key-file"
INFO_X25519 = b"hyperseal/v1/x25519"


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's CSPRNG: every key, salt, id and nonce."""
    return os.urandom(n)


def hkdf(ikm: bytes, *, salt: bytes | None, info: bytes, length: int = KEY_LEN) -> bytes:
    """HKDF-SHA256 (RFC 5869)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def aead(key: bytes) -> AESGCM:
    """An AES-256-GCM instance for ``key`` (reusable across messages)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt under a fresh random nonce; returns ``nonce || ciphertext || tag``."""
    nonce = random_bytes(NONCE_LEN)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def unseal(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes | None:
    """Inverse of :func:`seal`; ``None`` when authentication fails."""
    from cryptography.exceptions import InvalidTag

    if len(sealed) < NONCE_LEN + TAG_LEN:
        return None
    try:
        return cipher.decrypt(sealed[:NONCE_LEN], sealed[NONCE_LEN:], aad)
    except InvalidTag:
        return None


def wrap_key(kek: bytes, data_key: bytes, aad: bytes) -> bytes:
    """Encrypt the data key under a key derived from the KEK (60 bytes out)."""
    return seal(aead(hkdf(kek, salt=None, info=INFO_WRAP)), data_key, aad)


def unwrap_key(kek: bytes, wrapped: bytes, aad: bytes) -> bytes | None:
    """Inverse of :func:`wrap_key`; ``None`` when authentication fails."""
    key = unseal(aead(hkdf(kek, salt=None, info=INFO_WRAP)), wrapped, aad)
    if key is None or len(key) != KEY_LEN:
        return None
    return key


def key_check(kek: bytes, file_id: bytes) -> bytes:
    """16 bytes that tell a wrong key from a damaged file, and reveal nothing of the KEK."""
    return hkdf(kek, salt=file_id, info=INFO_CHECK, length=16)


def x25519_public(private: bytes) -> bytes:
    """The X25519 public key of a 32-byte private key."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def x25519_generate() -> bytes:
    """A fresh X25519 private key: 32 random bytes (clamped by X25519 itself, RFC 7748)."""
    return random_bytes(X25519_LEN)


def x25519_shared(private: bytes, peer_public: bytes) -> bytes | None:
    """The X25519 shared secret; ``None`` for a low-order peer key (all-zero secret)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )

    try:
        peer = X25519PublicKey.from_public_bytes(peer_public)
        shared = X25519PrivateKey.from_private_bytes(private).exchange(peer)
    except ValueError:
        return None
    if shared == bytes(len(shared)):
        return None
    return shared


def recipient_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    """The one-record AES key of the recipient scheme (HKDF over the X25519 secret)."""
    return hkdf(shared, salt=ephemeral_public + recipient_public, info=INFO_X25519)


def seal_to_recipient(recipient_public: bytes, plaintext: bytes, aad: bytes) -> bytes | None:
    """Seal for a public key: ``ephemeral public || nonce || ciphertext || tag``.

    A fresh ephemeral key per call gives a fresh one-use AES key; ``None`` if
    the recipient key is a low-order point.
    """
    ephemeral = x25519_generate()
    ephemeral_public = x25519_public(ephemeral)
    shared = x25519_shared(ephemeral, recipient_public)
    if shared is None:
        return None
    key = recipient_key(shared, ephemeral_public, recipient_public)
    return ephemeral_public + seal(aead(key), plaintext, aad)


def unseal_from_sender(
    private: bytes, recipient_public: bytes, sealed: bytes, aad: bytes
) -> bytes | None:
    """Inverse of :func:`seal_to_recipient` with the identity's private key."""
    if len(sealed) < X25519_LEN + NONCE_LEN + TAG_LEN:
        return None
    ephemeral_public = sealed[:X25519_LEN]
    shared = x25519_shared(private, ephemeral_public)
    if shared is None:
        return None
    key = recipient_key(shared, ephemeral_public, recipient_public)
    return unseal(aead(key), sealed[X25519_LEN:], aad)
