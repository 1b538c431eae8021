"""The one way hyperseal writes a file, and the per-file write lock (POSIX).

Every file the project writes — sealed vaults and journals, key files,
``run.json``, ``metrics.json``, released weights and manifests, audit
summaries and tables, reports, exports — goes through :func:`atomic_write` or
:func:`create_exclusive`:

* the data goes to a fresh temporary file ``.<name>.<random>.tmp`` in the
  target's folder, created with ``O_CREAT | O_EXCL | O_NOFOLLOW``: a file or a
  symbolic link planted at that name makes the write fail, it is never opened
  or followed;
* mode 0600 by default (anything sealed or recipe-adjacent); a caller may ask
  for a wider mode (a report without secret values: 0644 less the umask);
* the temporary file is fsynced, renamed over the target (``os.replace``,
  which replaces a symbolic link at the target itself, never the file it
  points to) and the folder is fsynced: a crash at any point leaves either
  the old file or the new one, never a mix.

The vault and the journal deliberately write *through* their own symbolic
links: they resolve them first with :func:`link_target` and pass the real path.

:class:`FileLock` takes an exclusive ``flock`` on ``<file>.lock`` (kept on
disk: deleting lock files races). The lock file is opened with
``O_NOFOLLOW`` and must be a regular file owned by this user; anything else is
refused. The kernel drops the lock when its holder dies, so a killed writer
never leaves a vault locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeVar

from tuner.errors import HypersealError
from tuner.vault.errors import VaultError, VaultLockedError

#: The mode of every file written unless the caller asks for another.
FILE_MODE = 0o600

#: Flags of every temporary (and in-place) file: a new file, never a followed link.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)

ErrorType = type[HypersealError]


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


def _open_new(path: Path, mode: int) -> int:
    """Create ``path`` (never following a link) with ``mode``; 0600 exactly when asked."""
    fd = os.open(path, _CREATE_FLAGS, mode)
    if mode == FILE_MODE:
        try:
            os.fchmod(fd, FILE_MODE)
        except OSError:
            os.close(fd)
            raise
    return fd


def _write_temp(target: Path, data: bytes, mode: int, error: ErrorType, durable: bool) -> Path:
    """Write ``data`` to a fresh (fsynced when ``durable``) temporary file beside ``target``."""
    folder = target.parent
    temp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = _open_new(temp, mode)
    except OSError as exc:
        raise error(f"{target}: cannot write in {folder} ({exc.strerror})") from None
    with _removed_on_failure(temp, target, error):
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    return temp


@contextlib.contextmanager
def _removed_on_failure(temp: Path, target: Path, error: ErrorType) -> Iterator[None]:
    """Remove ``temp`` when the block fails; an ``OSError`` becomes ``error`` (the old file,
    if any, is intact: only the temporary file was written)."""
    try:
        yield
    except OSError as exc:
        _unlink_quietly(temp)
        raise error(f"{target}: write failed ({exc.strerror}); the old file is intact") from None
    except BaseException:
        _unlink_quietly(temp)
        raise


#: What ``fsync(2)`` of a folder fails with where the filesystem cannot sync folders (some
#: network and FUSE mounts): nothing more can be done there, and the rename is done.
_NO_FOLDER_SYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def _sync_folder(target: Path, error: ErrorType) -> None:
    try:
        fsync_dir(target.parent)
    except OSError as exc:
        if exc.errno in _NO_FOLDER_SYNC:
            return
        raise error(f"{target}: written, but syncing its folder failed ({exc.strerror})") from None


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = FILE_MODE,
    error: ErrorType = VaultError,
    durable: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    A symbolic link at ``path`` is replaced by the new file; the file it
    pointed to is left untouched.

    Args:
        path: the file to write.
        data: its new content.
        mode: the new file's mode: 0600 (the default) exactly, or any other mode
            less the umask.
        error: the error class raised on failure (the caller's, so that the CLI
            gives its exit code); :class:`VaultError` by default.
        durable: fsync the file and its folder (False only for bulk files that a
            later step makes durable, such as a generated dataset's images).

    Raises:
        HypersealError: ``error``: the write failed; the old file (if any) is untouched.
    """
    target = Path(path)
    temp = _write_temp(target, data, mode, error, durable)
    with _removed_on_failure(temp, target, error):
        os.replace(temp, target)
    if durable:
        _sync_folder(target, error)


def create_exclusive(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = FILE_MODE,
    error: ErrorType = VaultError,
) -> None:
    """Write a new file that must not exist yet, atomically (temp file, then ``os.link``).

    A symbolic link at ``path``, even a dangling one, counts as an existing file.

    Args:
        path: the file to create.
        data: its content.
        mode: as for :func:`atomic_write`.
        error: as for :func:`atomic_write`.

    Raises:
        HypersealError: ``error``: the file exists, or the write failed.
    """
    target = Path(path)
    temp = _write_temp(target, data, mode, error, True)
    try:
        os.link(temp, target)
    except FileExistsError:
        raise error(f"{target}: file exists; refusing to overwrite it") from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise error(f"{target}: cannot create ({exc.strerror})") from None
        _create_in_place(target, data, mode, error)  # FAT, some FUSE and network mounts
    finally:
        _unlink_quietly(temp)
    _sync_folder(target, error)


def replace_file(
    source: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    error: ErrorType = VaultError,
) -> None:
    """Rename ``source`` (a file :func:`atomic_write` wrote beside ``path``) over ``path``
    and fsync the folder: the last step of a replacement done in two stages.

    Raises:
        HypersealError: ``error``: the rename failed; ``path`` is untouched.
    """
    target = Path(path)
    try:
        os.replace(source, target)
    except OSError as exc:
        raise error(f"{target}: cannot replace ({exc.strerror}); the old file is intact") from None
    _sync_folder(target, error)


def open_new(
    path: str | os.PathLike[str], *, mode: int = FILE_MODE, error: ErrorType = VaultError
) -> BinaryIO:
    """A new file opened for streaming (a log a child process writes), never through a link.

    Created with ``O_CREAT | O_EXCL | O_NOFOLLOW``: an existing file or a symbolic link at
    ``path`` is an error, never overwritten or followed. Not atomic: for files that are
    written as they are produced; everything else goes through :func:`atomic_write`.

    Raises:
        HypersealError: ``error``: ``path`` exists or cannot be created.
    """
    try:
        fd = _open_new(Path(path), mode)
    except FileExistsError:
        raise error(f"{path}: file exists; refusing to overwrite it") from None
    except OSError as exc:
        raise error(f"{path}: cannot create ({exc.strerror})") from None
    return os.fdopen(fd, "wb")


#: What ``link(2)`` fails with on filesystems without hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


def _create_in_place(target: Path, data: bytes, mode: int, error: ErrorType) -> None:
    """``O_EXCL`` creation and a direct write: still never overwrites, and a failed write
    removes the partial file (a crash mid-write can leave one, which readers report)."""
    try:
        fd = _open_new(target, mode)
    except FileExistsError:
        raise error(f"{target}: file exists; refusing to overwrite it") from None
    except OSError as exc:
        raise error(f"{target}: cannot create ({exc.strerror})") from None
    try:
        write_all(fd, data)
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(target)
        raise error(f"{target}: cannot write ({exc.strerror})") from None
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


def open_lock_file(path: str | os.PathLike[str]) -> int:
    """Open (or create, mode 0600) the lock file of ``path``, never through a link.

    Raises:
        VaultError: the folder is missing, or the lock file is a symbolic link, not a
            regular file, or owned by another user (a planted file), or cannot be created.
    """
    target = Path(path)
    where = lock_path(target)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(where, flags | getattr(os, "O_NONBLOCK", 0), FILE_MODE)
    except FileNotFoundError:
        raise VaultError(f"{target}: folder {target.parent} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise VaultError(
                f"{where}: the lock file is a symbolic link; remove it and retry"
            ) from None
        raise VaultError(f"{where}: cannot create lock file ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else "owned by another user"
        raise VaultError(f"{where}: the lock file is {what}; remove it and retry")
    return fd


_Closing = TypeVar("_Closing", bound="ClosedOnExit")


class ClosedOnExit:
    """Base of what a ``with`` block closes on leaving: ``__exit__`` calls :meth:`close`."""

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    def __enter__(self: _Closing) -> _Closing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FileLock(ClosedOnExit):
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
        fd = open_lock_file(self.path)
        where = lock_path(self.path)
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

    def close(self) -> None:
        """Release the lock: what leaving a ``with`` block does."""
        self.release()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self
