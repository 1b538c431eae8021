"""The byte layout shared by vault and journal files: header and record frames.

This module only encodes and parses bytes (no keys, no cryptography); see
``docs/vault-format.md`` for the specification it implements::

    file    = header || body
    header  = magic(8) version(1) mode(1) file_id(16) key_block checksum(32)
    vault   body = count(u32) frame*count
    journal body = end (frame end)*   (version 2, append-only; version 1: frame*)
    frame   = length(u32) seq(u64) head_crc(u32) sealed(length)
    end     = an AEAD tag over the count and the chain digest of the frames before it
              (only the last one counts; writers zero the others)

All integers are big-endian. Parsing raises only :class:`VaultError`
subclasses, whatever the input.
"""

from __future__ import annotations

import enum
import hashlib
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property

from tuner.vault.crypto import KEY_LEN, NONCE_LEN, TAG_LEN, X25519_LEN
from tuner.vault.errors import (
    NotAVaultError,
    TamperedError,
    TruncatedError,
    UnknownVersionError,
)
from tuner.vault.kdf import ScryptParams

VERSION = 1
#: The version of journals this hyperseal writes: 2 adds the authenticated end.
JOURNAL_VERSION = 2
#: Versions a reader parses, by kind. Journal version 1 (hyperseal 0.1) is parsed only to
#: migrate it (:func:`tuner.vault.journal.migrate_journal`).
SUPPORTED_VERSIONS = {"vault": frozenset({1}), "journal": frozenset({1, 2})}

FILE_ID_LEN = 16
SALT_LEN = 16
CHECK_LEN = 16
CHECKSUM_LEN = 32
WRAPPED_KEY_LEN = NONCE_LEN + KEY_LEN + TAG_LEN
PREFIX_LEN = 8 + 1 + 1 + FILE_ID_LEN

_SCRYPT = struct.Struct(">BII")
_COUNT = struct.Struct(">I")
_FRAME_HEAD = struct.Struct(">IQI")
FRAME_HEAD_LEN = _FRAME_HEAD.size
MAX_FRAME_BODY = 1 << 30
SEQ_LEN = 8


class FileKind(enum.Enum):
    """What a sealed file holds."""

    VAULT = "vault"
    JOURNAL = "journal"

    @property
    def magic(self) -> bytes:
        """The 8 bytes every file of this kind starts with."""
        return _MAGIC[self]


_MAGIC = {FileKind.VAULT: b"\x89HSVAULT", FileKind.JOURNAL: b"\x89HSJOURN"}


class KeyMode(enum.IntEnum):
    """How a file's keys are protected (the header's mode byte)."""

    PASSPHRASE = 1
    KEY_FILE = 2
    RECIPIENT = 3

    def describe(self) -> str:
        """Words for messages: ``passphrase``, ``key file``, ``public key``."""
        return {1: "passphrase", 2: "key file", 3: "public key"}[self.value]


_KEY_BLOCK_LEN = {
    KeyMode.PASSPHRASE: _SCRYPT.size + SALT_LEN + CHECK_LEN + WRAPPED_KEY_LEN,
    KeyMode.KEY_FILE: CHECK_LEN + WRAPPED_KEY_LEN,
    KeyMode.RECIPIENT: X25519_LEN,
}


def header_length(mode: KeyMode) -> int:
    """Total header bytes for a key mode (fixed in version 1)."""
    return PREFIX_LEN + _KEY_BLOCK_LEN[mode] + CHECKSUM_LEN


def sealed_overhead(mode: KeyMode) -> int:
    """Bytes a sealed payload adds to its plaintext (the smallest valid frame body)."""
    extra = X25519_LEN if mode is KeyMode.RECIPIENT else 0
    return extra + NONCE_LEN + TAG_LEN


@dataclass(frozen=True)
class Header:
    """A parsed or to-be-written header.

    Attributes:
        kind: vault or journal.
        mode: how the keys are protected.
        file_id: 16 random bytes fixed when the file is created.
        version: the format version.
        scrypt: scrypt parameters (passphrase mode).
        salt: scrypt salt (passphrase mode).
        key_check: 16 bytes derived from the KEK (passphrase and key-file modes).
        wrapped_key: the data key sealed under the KEK (passphrase and key-file modes).
        recipient: the X25519 public key records are sealed to (recipient mode).
    """

    kind: FileKind
    mode: KeyMode
    file_id: bytes
    version: int = VERSION
    scrypt: ScryptParams | None = None
    salt: bytes | None = None
    key_check: bytes | None = None
    wrapped_key: bytes | None = None
    recipient: bytes | None = None

    @cached_property
    def wrap_aad(self) -> bytes:
        """The header bytes before the wrapped data key: the associated data of the wrap."""
        out = [self.kind.magic, bytes([self.version, int(self.mode)]), self.file_id]
        if self.mode is KeyMode.PASSPHRASE:
            assert self.scrypt is not None and self.salt is not None and self.key_check is not None
            out += [_SCRYPT.pack(self.scrypt.log2_n, self.scrypt.r, self.scrypt.p), self.salt]
            out.append(self.key_check)
        elif self.mode is KeyMode.KEY_FILE:
            assert self.key_check is not None
            out.append(self.key_check)
        else:
            assert self.recipient is not None
            out.append(self.recipient)
        return b"".join(out)

    @cached_property
    def raw(self) -> bytes:
        """The encoded header: the associated data of every record frame."""
        body = self.wrap_aad
        if self.mode is not KeyMode.RECIPIENT:
            assert self.wrapped_key is not None
            body += self.wrapped_key
        return body + hashlib.sha256(body).digest()

    def record_aad(self, seq: int) -> bytes:
        """Associated data of frame ``seq``: the whole header, then ``seq`` as u64."""
        return self.raw + seq.to_bytes(SEQ_LEN, "big")


def parse_header(data: bytes, expect: FileKind, where: str) -> Header:
    """Parse and check the header at the start of ``data``.

    Checks, in order: magic (not a vault / wrong kind), version, mode, length,
    checksum. The checksum is a plain SHA-256 that tells a damaged header from
    a wrong key; authentication comes from the AEAD, which covers the header.

    Args:
        data: the file's bytes (or at least its header).
        expect: the kind of file the caller wants.
        where: the file's path, for messages.

    Returns:
        The header; its length is ``header_length(header.mode)``.

    Raises:
        NotAVaultError, UnknownVersionError, TruncatedError, TamperedError.
    """
    magic = expect.magic
    if len(data) < len(magic):
        if data == magic[: len(data)]:
            raise TruncatedError(f"{where}: file is truncated ({len(data)} bytes, no full header)")
        raise NotAVaultError(f"{where}: not a hyperseal {expect.value} (unknown file type)")
    if data[: len(magic)] != magic:
        for other in FileKind:
            if other is not expect and data[: len(magic)] == other.magic:
                raise NotAVaultError(
                    f"{where}: this is a sealed {other.value}, not a {expect.value};"
                    f" use the `hyperseal vault {'journal ' if other is FileKind.JOURNAL else ''}"
                    "...` commands for it"
                )
        raise NotAVaultError(f"{where}: not a hyperseal {expect.value} (unknown file type)")
    if len(data) < len(magic) + 1:
        raise TruncatedError(f"{where}: file is truncated (no version byte)")
    version = data[8]
    newest = JOURNAL_VERSION if expect is FileKind.JOURNAL else VERSION
    if version not in SUPPORTED_VERSIONS[expect.value]:
        newer = ", made by a newer hyperseal; upgrade to read it" if version > newest else ""
        raise UnknownVersionError(f"{where}: unknown format version {version}{newer}")
    if len(data) < len(magic) + 2:
        raise TruncatedError(f"{where}: file is truncated (no key mode byte)")
    try:
        mode = KeyMode(data[9])
    except ValueError:
        raise TamperedError(
            f"{where}: header is corrupt (unknown key mode {data[9]}); restore it from a backup"
        ) from None
    size = header_length(mode)
    if len(data) < size:
        raise TruncatedError(f"{where}: file is truncated inside its header")
    body, checksum = data[: size - CHECKSUM_LEN], data[size - CHECKSUM_LEN : size]
    if hashlib.sha256(body).digest() != checksum:
        raise TamperedError(
            f"{where}: header checksum does not match (damaged or tampered); restore from a backup"
        )
    pos = PREFIX_LEN
    file_id = data[10:PREFIX_LEN]
    if mode is KeyMode.RECIPIENT:
        return Header(expect, mode, file_id, version, recipient=data[pos : pos + X25519_LEN])
    scrypt = salt = None
    if mode is KeyMode.PASSPHRASE:
        log2_n, r, p = _SCRYPT.unpack_from(data, pos)
        scrypt = ScryptParams(log2_n, r, p)
        pos += _SCRYPT.size
        salt = data[pos : pos + SALT_LEN]
        pos += SALT_LEN
    check = data[pos : pos + CHECK_LEN]
    wrapped = data[pos + CHECK_LEN : pos + CHECK_LEN + WRAPPED_KEY_LEN]
    return Header(expect, mode, file_id, version, scrypt, salt, check, wrapped)


@dataclass(frozen=True)
class Frame:
    """One record frame as it sits in the file (still sealed).

    Attributes:
        seq: the sequence number stored in the frame head (authenticated by the AEAD).
        sealed: the sealed payload.
        offset: where the frame starts in the file.
        end: where it ends (exclusive).
    """

    seq: int
    sealed: bytes
    offset: int
    end: int


def encode_frame(seq: int, sealed: bytes) -> bytes:
    """Frame a sealed payload: length, seq, CRC-32 of those 12 bytes, payload."""
    head = struct.pack(">IQ", len(sealed), seq)
    return head + zlib.crc32(head).to_bytes(4, "big") + sealed


def encode_count(count: int) -> bytes:
    """The vault body's leading record count."""
    return _COUNT.pack(count)


def read_frame(
    data: bytes, offset: int, mode: KeyMode, where: str, *, trailer: int = 0
) -> Frame | None:
    """Read the frame at ``offset``; ``None`` if the data ends before the frame does.

    A region of only zero bytes also reads as an incomplete frame (some file
    systems leave zeros after a crash). ``trailer`` bytes (a journal's end slot)
    must follow the frame for it to be complete; :attr:`Frame.end` excludes them.

    Raises:
        TamperedError: the frame head's CRC fails or its length is impossible.
    """
    rest = len(data) - offset
    if rest < FRAME_HEAD_LEN:
        return None
    length, seq, crc = _FRAME_HEAD.unpack_from(data, offset)
    if zlib.crc32(data[offset : offset + 12]) != crc:
        if data.count(0, offset) == rest:
            return None
        raise TamperedError(f"{where}: record at byte {offset} has a corrupt frame head")
    if not sealed_overhead(mode) <= length <= MAX_FRAME_BODY:
        raise TamperedError(f"{where}: record at byte {offset} has an impossible length")
    end = offset + FRAME_HEAD_LEN + length
    if end + trailer > len(data):
        return None
    return Frame(seq, data[offset + FRAME_HEAD_LEN : end], offset, end)


def parse_vault_body(data: bytes, header: Header, where: str) -> list[Frame]:
    """Parse the frames after a vault header: exactly ``count`` of them, nothing after.

    Raises:
        TruncatedError: the file ends early.
        TamperedError: corrupt frames, bad sequence numbers or trailing bytes.
    """
    pos = header_length(header.mode)
    if len(data) < pos + _COUNT.size:
        raise TruncatedError(f"{where}: file is truncated (no record count)")
    (count,) = _COUNT.unpack_from(data, pos)
    if header.mode is not KeyMode.RECIPIENT and count != 1:
        raise TamperedError(f"{where}: corrupt record count; restore from a backup")
    pos += _COUNT.size
    frames = []
    for index in range(count):
        frame = read_frame(data, pos, header.mode, where)
        if frame is None:
            raise TruncatedError(
                f"{where}: file is truncated (record {index + 1} of {count} incomplete)"
            )
        if frame.seq != index:
            raise TamperedError(f"{where}: record {index} carries sequence number {frame.seq}")
        frames.append(frame)
        pos = frame.end
    if pos != len(data):
        raise TamperedError(f"{where}: {len(data) - pos} unexpected bytes after the last record")
    return frames


def end_length(header: Header) -> int:
    """Bytes of one journal end slot: an AEAD over empty plaintext (0 before version 2)."""
    return sealed_overhead(header.mode) if header.version >= 2 else 0


def chain_start(header: Header) -> bytes:
    """The chain digest of a journal with no frames: SHA-256 of its header."""
    return hashlib.sha256(header.raw).digest()


def chain_next(chain: bytes, frame: bytes) -> bytes:
    """The chain digest after one more frame (its head and sealed bytes, not its end slot)."""
    return hashlib.sha256(chain + frame).digest()


def end_aad(header: Header, count: int, chain: bytes) -> bytes:
    """Associated data of the end slot after ``count`` frames whose chain digest is ``chain``."""
    return header.raw + b"end" + count.to_bytes(SEQ_LEN, "big") + chain


@dataclass(frozen=True)
class JournalScan:
    """The frames of a journal and, if the last one is incomplete, where it starts.

    Attributes:
        frames: the complete frames, in file order.
        torn_offset: offset of an incomplete trailing frame, or ``None``.
        size: the file size scanned.
        ends: offsets of the end slots (version 2): after the header, then after each frame.
        end_len: bytes of each end slot (0 in version 1).
        torn_zero: the incomplete tail is only zero bytes.
    """

    frames: list[Frame]
    torn_offset: int | None
    size: int
    ends: list[int]
    end_len: int
    torn_zero: bool = False

    def end_slot(self, data: bytes) -> bytes:
        """The end slot after the last complete frame (or after the header)."""
        return data[self.ends[-1] : self.ends[-1] + self.end_len]


def scan_journal(data: bytes, header: Header, where: str) -> JournalScan:
    """Split a journal's body into frames; an incomplete last frame is reported, not raised.

    Raises:
        TruncatedError: a version 2 journal cut inside the end slot after its header (which
            is written with the header, so no crash leaves it incomplete).
        TamperedError: a frame head is corrupt (other than a torn tail).
    """
    pos = header_length(header.mode)
    trailer = end_length(header)
    ends: list[int] = []
    if trailer:
        if len(data) < pos + trailer:
            raise TruncatedError(
                f"{where}: file is truncated (no end marker after the header); restore it from"
                " a backup"
            )
        ends.append(pos)
        pos += trailer
    frames = []
    while pos < len(data):
        frame = read_frame(data, pos, header.mode, where, trailer=trailer)
        if frame is None:
            zero = data.count(0, pos) == len(data) - pos
            return JournalScan(frames, pos, len(data), ends, trailer, zero)
        frames.append(frame)
        if trailer:
            ends.append(frame.end)
        pos = frame.end + trailer
    return JournalScan(frames, None, len(data), ends, trailer)
