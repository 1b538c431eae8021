"""The vault: a file of named JSON entries, encrypted and authenticated.

Passphrase and key-file vaults hold all entries in one sealed record,
rewritten (fresh nonce) on every :meth:`Vault.put`: names, count and sizes
stay hidden. Recipient vaults hold one sealed record per :meth:`Vault.put`,
because a writer with only the public key cannot read, and so cannot
re-seal, what is already there; a later record for a name supersedes the
earlier ones.

Every write is atomic (:func:`~tuner.vault.atomic.atomic_write`) and made
under the file's lock, re-reading the file first so that concurrent writers
never lose each other's entries.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuner.vault import codec
from tuner.vault.atomic import (
    FileLock,
    atomic_write,
    create_exclusive,
    link_target,
    remove_stale_temps,
)
from tuner.vault.cipher import RecordCipher, new_file, unlock
from tuner.vault.errors import EntryNotFoundError, TamperedError, VaultError
from tuner.vault.format import (
    FileKind,
    Frame,
    KeyMode,
    encode_count,
    encode_frame,
    parse_header,
    parse_vault_body,
)
from tuner.vault.kdf import DEFAULT_LIMITS, KdfLimits, ScryptParams
from tuner.vault.keys import KeySource, Recipient
from tuner.vault.sealed import SealedFile, read_file

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class EntryInfo:
    """What may be shown about an entry without revealing it.

    Attributes:
        name: the entry's name.
        saved_at: when it was last put (UTC).
    """

    name: str
    saved_at: datetime


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`: everything in the file authenticated.

    Attributes:
        path: the file checked.
        version: its format version.
        key_mode: how its keys are protected.
        kdf: scrypt parameters (passphrase mode), else ``None``.
        recipient: the public key it is sealed to (recipient mode), else ``None``.
        entries: number of distinct entries.
        records: number of sealed records (recipient vaults keep superseded ones).
    """

    path: Path
    version: int
    key_mode: KeyMode
    kdf: ScryptParams | None
    recipient: str | None
    entries: int
    records: int

    def describe(self) -> str:
        """One line for people, e.g. ``vault v1, key file, 3 entries in 1 record``."""
        how = self.key_mode.describe()
        if self.kdf is not None:
            how += f" ({self.kdf.describe()})"
        if self.recipient is not None:
            how += f" {self.recipient}"
        entries = f"{self.entries} {'entry' if self.entries == 1 else 'entries'}"
        records = f"{self.records} {'record' if self.records == 1 else 'records'}"
        return f"vault v{self.version}, {how}, {entries} in {records}"


@dataclass
class _Entry:
    saved_at: str
    document: dict[str, Any]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _valid_entry(value: Any, where: str) -> _Entry:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("time"), str)
        or not isinstance(value.get("document"), dict)
    ):
        raise TamperedError(f"{where}: an entry authenticates but is malformed")
    try:
        _parse_time(value["time"])
    except ValueError:
        raise TamperedError(f"{where}: an entry authenticates but has a bad time") from None
    return _Entry(value["time"], value["document"])


class Vault(SealedFile):
    """An open vault file. Create with :meth:`create`, open with :meth:`open`.

    A vault opened with a :class:`~tuner.vault.keys.Recipient` (public key
    only) can :meth:`put` but not read; every other key reads and writes.

    Example:
        >>> key = Passphrase("correct horse battery staple")  # doctest: +SKIP
        >>> vault = Vault.create("best.vault", key)  # doctest: +SKIP
        >>> vault.put("fasterrcnn", {"lr": 0.02, "map": 0.41})  # doctest: +SKIP
        >>> Vault.open("best.vault", key).get("fasterrcnn")["lr"]  # doctest: +SKIP
        0.02
    """

    def __init__(
        self,
        path: Path,
        key: KeySource,
        cipher: RecordCipher,
        *,
        limits: KdfLimits,
        lock_timeout: float,
    ) -> None:
        super().__init__(path, cipher)
        self._key = key
        self._limits = limits
        self._lock_timeout = lock_timeout
        self._frames: list[Frame] = []
        self._entries: dict[str, _Entry] | None = {} if cipher.can_read else None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: PathLike,
        key: KeySource,
        *,
        kdf: ScryptParams | None = None,
        limits: KdfLimits = DEFAULT_LIMITS,
        lock_timeout: float = 10.0,
        overwrite: bool = False,
    ) -> Vault:
        """Create an empty vault (mode 0600).

        Args:
            path: the new vault file.
            key: passphrase, key file, recipient (write-only from then on) or identity.
            kdf: scrypt cost for a passphrase (default about half a second).
            limits: caps for ``kdf``; the same caps apply when opening.
            lock_timeout: seconds to wait for another writer.
            overwrite: replace an existing file instead of refusing.

        Raises:
            VaultError: the file exists (without ``overwrite``) or cannot be written.
            KdfParamsError: ``kdf`` is outside ``limits``.
        """
        target = Path(path)
        cipher = new_file(FileKind.VAULT, key, str(target), kdf=kdf, limits=limits)
        vault = cls(target, key, cipher, limits=limits, lock_timeout=lock_timeout)
        with FileLock(target, lock_timeout):
            data = vault._encode({})
            (atomic_write if overwrite else create_exclusive)(target, data)
        return vault

    @classmethod
    def open(
        cls,
        path: PathLike,
        key: KeySource,
        *,
        limits: KdfLimits = DEFAULT_LIMITS,
        lock_timeout: float = 10.0,
    ) -> Vault:
        """Open a vault and authenticate all of it (when the key can read).

        Args:
            path: the vault file.
            key: its key; a :class:`~tuner.vault.keys.Recipient` opens it write-only
                (after checking the file is sealed to that public key).
            limits: caps on the scrypt parameters, checked before scrypt runs.
            lock_timeout: seconds :meth:`put` and :meth:`rotate` wait for another writer.

        Raises:
            VaultError: missing or unreadable file.
            NotAVaultError, UnknownVersionError, TruncatedError, TamperedError,
            KdfParamsError, KeyKindError, WrongKeyError: see :mod:`tuner.vault.errors`.
        """
        target = Path(path)
        where = str(target)
        data = read_file(target, "vault")
        header = parse_header(data, FileKind.VAULT, where)
        parse_vault_body(data, header, where)  # truncation and tampering before the KDF
        cipher = unlock(header, key, where, limits=limits)
        vault = cls(target, key, cipher, limits=limits, lock_timeout=lock_timeout)
        vault._load(data)
        return vault

    # -- reading --------------------------------------------------------------------------

    def _readable(self) -> dict[str, _Entry]:
        if self._entries is None:
            raise self._public_key_only()
        return self._entries

    def names(self) -> list[str]:
        """The entry names, sorted."""
        return sorted(self._readable())

    def entries(self) -> list[EntryInfo]:
        """Name and save time of every entry, sorted by name; no stored values."""
        entries = self._readable()
        return [EntryInfo(n, _parse_time(entries[n].saved_at)) for n in sorted(entries)]

    def get(self, name: str) -> dict[str, Any]:
        """A copy of entry ``name``'s document.

        Raises:
            EntryNotFoundError: no such entry.
        """
        entries = self._readable()
        if name not in entries:
            raise EntryNotFoundError(
                f"{self._where}: no entry named {name!r}; `hyperseal vault list` shows them"
            )
        return copy.deepcopy(entries[name].document)

    def __contains__(self, name: object) -> bool:
        return name in self._readable()

    def __len__(self) -> int:
        return len(self._readable())

    def __repr__(self) -> str:
        return f"Vault({self._where!r}, {self.key_mode.describe()})"

    def refresh(self) -> None:
        """Re-read the file (another process may have written to it)."""
        self._load(read_file(self.path, "vault"))

    def _file(self) -> Path:
        """The file to lock and rewrite (a symbolic link's target)."""
        return link_target(self.path)

    # -- writing --------------------------------------------------------------------------

    def put(self, name: str, document: Mapping[str, Any]) -> EntryInfo:
        """Store ``document`` under ``name``, replacing any entry of that name.

        Takes the lock, re-reads and re-authenticates the file, then writes
        it atomically. In recipient mode the new record is appended to the
        existing sealed records, which are copied unread.

        Args:
            name: the entry name (see :data:`~tuner.vault.codec.NAME_RULE`).
            document: a JSON-serialisable mapping.

        Returns:
            The new entry's name and time.

        Raises:
            DocumentError: bad name or document.
            VaultLockedError: another process is writing.
        """
        codec.check_name(name)
        doc = codec.check_document(document, f"entry {name!r}")
        target = self._file()
        with FileLock(target, self._lock_timeout):
            remove_stale_temps(target)
            self._load(read_file(target, "vault"))
            saved = _now()
            if self.key_mode is KeyMode.RECIPIENT:
                payload = {"name": name, "time": saved, "document": doc}
                frame = encode_frame(
                    len(self._frames), self._cipher.seal(len(self._frames), codec.encode(payload))
                )
                data = self._encode_frames([*self._raw_frames(), frame])
            else:
                assert self._entries is not None
                entries = dict(self._entries)
                entries[name] = _Entry(saved, doc)
                data = self._encode(entries)
            atomic_write(target, data)
            self._load(data)
        return EntryInfo(name, _parse_time(saved))

    def rotate(
        self,
        new_key: KeySource,
        *,
        kdf: ScryptParams | None = None,
        update: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Re-encrypt everything under ``new_key`` (any kind), with a fresh data key.

        Needs a key that can read. A recipient vault is rewritten with only
        the latest record of each name. ``update`` replaces the documents of
        existing entries in the same atomic write (their save times are kept).

        Raises:
            KeyKindError: this vault was opened with a public key only.
            KdfParamsError: ``kdf`` is outside the limits.
        """
        self._readable()
        target = self._file()
        with FileLock(target, self._lock_timeout):
            remove_stale_temps(target)
            self._load(read_file(target, "vault"))
            assert self._entries is not None
            entries = dict(self._entries)
            for name, document in (update or {}).items():
                if name not in entries:
                    raise EntryNotFoundError(f"{self._where}: no entry {name!r} to update")
                doc = codec.check_document(document, f"entry {name!r}")
                entries[name] = _Entry(entries[name].saved_at, doc)
            cipher = new_file(
                FileKind.VAULT,
                new_key,
                self._where,
                kdf=kdf,
                limits=self._limits,
                file_id=self._cipher.header.file_id,
            )
            old_cipher, self._cipher = self._cipher, cipher
            try:
                data = self._encode(entries)
                atomic_write(target, data)
            except BaseException:
                self._cipher = old_cipher
                raise
            self._key = new_key
            self._entries = entries if cipher.can_read else None
            self._frames = parse_vault_body(data, cipher.header, self._where)

    # -- internals ------------------------------------------------------------------------

    def _raw_frames(self) -> list[bytes]:
        return [encode_frame(f.seq, f.sealed) for f in self._frames]

    def _encode_frames(self, frames: list[bytes]) -> bytes:
        return self._cipher.header.raw + encode_count(len(frames)) + b"".join(frames)

    def _encode(self, entries: dict[str, _Entry]) -> bytes:
        if self.key_mode is KeyMode.RECIPIENT:
            ordered = sorted(entries.items(), key=lambda item: (item[1].saved_at, item[0]))
            frames = []
            for seq, (name, entry) in enumerate(ordered):
                payload = {"name": name, "time": entry.saved_at, "document": entry.document}
                frames.append(encode_frame(seq, self._cipher.seal(seq, codec.encode(payload))))
            return self._encode_frames(frames)
        body = {
            "entries": {n: {"time": e.saved_at, "document": e.document} for n, e in entries.items()}
        }
        return self._encode_frames([encode_frame(0, self._cipher.seal(0, codec.encode(body)))])

    def _load(self, data: bytes) -> None:
        where = self._where
        header = parse_header(data, FileKind.VAULT, where)
        frames = parse_vault_body(data, header, where)
        if header.raw != self._cipher.header.raw:
            # Rotated by another process since we opened it: unlock again.
            self._cipher = unlock(header, self._key, where, limits=self._limits)
        self._frames = frames
        if not self._cipher.can_read:
            self._entries = None
            return
        entries: dict[str, _Entry] = {}
        for frame in frames:
            plain = self._cipher.open(frame)
            if plain is None:
                raise TamperedError(
                    f"{where}: record {frame.seq} fails authentication (tampered or damaged);"
                    " restore the vault from a backup"
                )
            value = codec.decode(plain, where)
            if header.mode is KeyMode.RECIPIENT:
                if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                    raise TamperedError(
                        f"{where}: record {frame.seq} authenticates but is malformed"
                    )
                try:
                    codec.check_name(value["name"])
                except VaultError:
                    raise TamperedError(
                        f"{where}: record {frame.seq} has a bad entry name"
                    ) from None
                entries[value["name"]] = _valid_entry(value, where)
            else:
                if not isinstance(value, dict) or not isinstance(value.get("entries"), dict):
                    raise TamperedError(f"{where}: the vault authenticates but is malformed")
                for name, entry in value["entries"].items():
                    if not isinstance(name, str) or codec.NAME_RE.fullmatch(name) is None:
                        raise TamperedError(f"{where}: the vault holds a bad entry name")
                    entries[name] = _valid_entry(entry, where)
        self._entries = entries


def verify(path: PathLike, key: KeySource, *, limits: KdfLimits = DEFAULT_LIMITS) -> VerifyReport:
    """Authenticate every byte of a vault and describe it.

    Args:
        path: the vault file.
        key: a key that can read it (not a bare public key).
        limits: caps on the scrypt parameters.

    Raises:
        KeyKindError: ``key`` is a public key only.
        and every error of :meth:`Vault.open`.
    """
    vault = Vault.open(path, key, limits=limits)
    count = len(vault)  # raises KeyKindError for a public key
    header = vault._cipher.header
    return VerifyReport(
        path=Path(path),
        version=header.version,
        key_mode=header.mode,
        kdf=header.scrypt,
        recipient=str(Recipient(header.recipient)) if header.recipient is not None else None,
        entries=count,
        records=len(vault._frames),
    )
