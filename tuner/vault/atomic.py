"""Crash-safe file replacement and the per-file write lock (POSIX).

:func:`atomic_write` writes a temporary file in the target's folder, fsyncs
it, renames it over the target with ``os.replace`` and fsyncs the folder: a
crash at any point leaves either the old file or the new one, never a mix.
Files are created with mode 0600.

:class:`FileLock` takes an exclusive ``flock`` on ``<file>.lock`` (kept on
disk: deleting lock files races). The kernel drops the lock when its holder
dies, so a killed writer never leaves a vault locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import time
from pathlib import Path
from types import TracebackType

from tuner.vault.errors import VaultError, VaultLockedError

FILE_MODE = 0o600


def _temp_glob(target: Path) -> str:
    return f".{target.name}.*.tmp"


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename or a new file in it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(target: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh fsynced 0600 temporary file beside ``target``."""
    folder = target.parent
    temp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise VaultError(f"{target}: cannot write in {folder} ({exc.strerror})") from None
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _unlink_quietly(temp)
        raise VaultError(
            f"{target}: write failed ({exc.strerror}); the old file is intact"
        ) from None
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def _sync_folder(target: Path) -> None:
    try:
        fsync_dir(target.parent)
    except OSError as exc:
        raise VaultError(
            f"{target}: written, but syncing its folder failed ({exc.strerror})"
        ) from None


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably, mode 0600.

    Args:
        path: the file to write.
        data: its new content.

    Raises:
        VaultError: the write failed; the old file (if any) is untouched.
    """
    target = Path(path)
    temp = _write_temp(target, data)
    try:
        os.replace(temp, target)
    except OSError as exc:
        _unlink_quietly(temp)
        raise VaultError(
            f"{target}: write failed ({exc.strerror}); the old file is intact"
        ) from None
    except BaseException:
        _unlink_quietly(temp)
        raise
    _sync_folder(target)


def create_exclusive(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a new file that must not exist yet, atomically (temp file, then ``os.link``).

    Args:
        path: the file to create.
        data: its content.

    Raises:
        VaultError: the file exists, or the write failed.
    """
    target = Path(path)
    temp = _write_temp(target, data)
    try:
        os.link(temp, target)
    except FileExistsError:
        raise VaultError(f"{target}: file exists; refusing to overwrite it") from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise VaultError(f"{target}: cannot create ({exc.strerror})") from None
        _create_in_place(target, data)  # FAT, some FUSE and network mounts
    finally:
        _unlink_quietly(temp)
    _sync_folder(target)


#: What ``link(2)`` fails with on filesystems without hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


def _create_in_place(target: Path, data: bytes) -> None:
    """``O_EXCL`` creation and a direct write: still never overwrites, and a failed write
    removes the partial file (a crash mid-write can leave one, which readers report)."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise VaultError(f"{target}: file exists; refusing to overwrite it") from None
    except OSError as exc:
        raise VaultError(f"{target}: cannot create ({exc.strerror})") from None
    try:
        write_all(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(target)
        raise VaultError(f"{target}: cannot write ({exc.strerror})") from None
    os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def remove_stale_temps(path: str | os.PathLike[str]) -> int:
    """Delete temporary files a killed writer of ``path`` left behind.

    Call only while holding the file's :class:`FileLock` (no live writer can
    then own them). Returns how many were removed.
    """
    target = Path(path)
    removed = 0
    for temp in target.parent.glob(_temp_glob(target)):
        _unlink_quietly(temp)
        removed += 1
    return removed


def link_target(path: str | os.PathLike[str]) -> Path:
    """``path``, or the file it links to when it is a symbolic link: the file writers must
    lock and rewrite, so that two names of one file exclude each other and a rename does
    not replace the link with a copy."""
    target = Path(path)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of ``path``: ``<path>.lock`` beside it."""
    target = Path(path)
    return target.with_name(target.name + ".lock")


class FileLock:
    """An exclusive, process-wide write lock on a file (``flock`` on ``<file>.lock``).

    Two ``FileLock`` objects exclude each other even inside one process.

    Args:
        path: the file to protect (not the lock file).
        timeout: seconds to wait for another holder before giving up.

    Example:
        >>> with FileLock(vault_path):  # doctest: +SKIP
        ...     rewrite(vault_path)
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds.

        Raises:
            VaultLockedError: another process (or object) holds it.
            VaultError: the lock file cannot be created.
        """
        if self._fd is not None:
            return
        where = lock_path(self.path)
        try:
            fd = os.open(where, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except FileNotFoundError:
            raise VaultError(f"{self.path}: folder {self.path.parent} does not exist") from None
        except OSError as exc:
            raise VaultError(f"{where}: cannot create lock file ({exc.strerror})") from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise VaultError(f"{where}: cannot lock ({exc.strerror})") from None
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise VaultLockedError(
                        f"{self.path}: another process is writing it (lock {where.name} held"
                        f" for over {self.timeout:g}s); wait for it to finish and retry"
                    ) from None
                time.sleep(0.02)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
