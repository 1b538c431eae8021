"""Reading the vault's files from outside: type and size checked first, never past a limit.

A sealed file (vault or journal) must be a regular file of at most
:data:`MAX_SEALED_FILE` bytes (read through :func:`tuner.bounded.read_bytes`);
key, identity, public-key and passphrase files may also be a pipe
(``--passphrase-file <(pass show x)``) but are read only up to
:data:`MAX_KEY_FILE` bytes. So a path naming ``/dev/zero``, a folder or a huge
file fails with one line naming the file and the limit, before anything is
parsed or held in memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tuner.bounded import check_regular, read_bytes, size_text, too_big
from tuner.vault.errors import VaultError

#: The largest vault or journal hyperseal reads (a tuning journal is a few KiB a trial).
MAX_SEALED_FILE = 64 << 20
#: The largest key, identity, public-key or passphrase file read.
MAX_KEY_FILE = 64 << 10


def read_sealed(path: Path, what: str, missing: str) -> bytes:
    """The bytes of a vault or journal: a regular file of at most :data:`MAX_SEALED_FILE`.

    Raises:
        VaultError: missing (with ``missing``, how to fix it), a folder, a device, a pipe,
            too large, or unreadable.
    """
    if not os.path.lexists(path):
        raise VaultError(f"{path}: no such {what}; {missing}")
    return read_bytes(path, MAX_SEALED_FILE, what, VaultError)


def read_small(path: Path, what: str) -> bytes:
    """The bytes of a key, identity or passphrase file (or a pipe giving one), at most
    :data:`MAX_KEY_FILE` of them.

    Raises:
        VaultError: missing, a folder or a device other than a character device, larger
            than the limit, or unreadable.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise VaultError(f"{path}: no such {what}; check the path") from None
    except OSError as exc:
        raise VaultError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            check_regular(path, info, what, VaultError)
            if info.st_size > MAX_KEY_FILE:
                raise VaultError(too_big(path, what, info.st_size, MAX_KEY_FILE))
        os.set_blocking(fd, True)  # a pipe is read as the user meant it to be
        chunks, total = [], 0
        while total <= MAX_KEY_FILE:
            chunk = os.read(fd, MAX_KEY_FILE + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise VaultError(f"{path}: cannot read {what} ({exc.strerror})") from None
    finally:
        os.close(fd)
    if total > MAX_KEY_FILE:
        raise VaultError(
            f"{path}: {what} is over the limit of {size_text(MAX_KEY_FILE)}; check that this is"
            " the right file"
        )
    return b"".join(chunks)
