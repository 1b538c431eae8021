"""Bounded reads of files that come from outside: checked for type and size before parsing.

Every file a user (or an attacker who can write in a run folder) hands
hyperseal — manifests, run and audit summaries, COCO annotation files,
YAML, coefficient and data files, weights, sealed vaults and journals, key and
passphrase files — is read through this module or checked by it before a
library parses it:

* it must be a regular file (a folder, a FIFO or a device such as
  ``/dev/zero`` is refused before a byte is read); key and passphrase files
  may also be a pipe (``--passphrase-file <(pass show x)``), read only up to
  their limit;
* its size must be within the limit for its kind (the constants below);
* a JSON document's parsed size is estimated from its bytes (containers and
  separators) before ``json.loads`` builds it, so that a small file of
  ``{},{},...`` cannot cost thirty times its size in memory.

Each refusal is one line naming the file and the limit, raised as the
caller's error class (so the CLI gives the caller's exit code). The limits
are documented in ``docs/training.md`` and ``docs/audit.md``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from tuner.errors import HypersealError

MiB = 1 << 20

#: ``manifest.json`` of a released model (architecture and class names only).
MAX_MANIFEST_BYTES = 1 * MiB
#: ``run.json``, an audit's ``summary.json`` and other small JSON documents hyperseal wrote.
MAX_SUMMARY_BYTES = 16 * MiB
#: A COCO instances json (annotation file).
MAX_ANNOTATION_BYTES = 64 * MiB
#: What any JSON document may cost in memory once parsed, estimated from its bytes.
MAX_JSON_MEMORY = 128 * MiB
#: A YAML file (search space, train config, ``vault put``).
MAX_YAML_BYTES = 1 * MiB
#: A vault or journal (a tuning journal is a few KiB a trial).
MAX_SEALED_FILE = 64 * MiB
#: A key, identity, public-key or passphrase file.
MAX_KEY_FILE = 64 << 10
#: Raises the annotation file's limits, in MiB on disk (real COCO files are bigger than the
#: default; parsing one costs up to 16 times its size): an explicit, per-process choice.
ANNOTATION_LIMIT_ENV = "HYPERSEAL_MAX_ANNOTATION_MIB"
#: Parsed memory allowed per byte of a raised annotation limit (COCO's measured worst).
ANNOTATION_MEMORY_FACTOR = 16

ErrorType = type[HypersealError]

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def size_text(size: int) -> str:
    """``512 bytes``, ``3.2 KiB``, ``64 MiB``: a size as a person reads it."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "TiB":
            return f"{size_f:.3g} {unit}"
        size = int(size_f)
    return f"{size} bytes"  # pragma: no cover


def too_big(path: str | os.PathLike[str], what: str, size: int, limit: int) -> str:
    """The one-line refusal: ``PATH: WHAT is SIZE, over the limit of LIMIT; ...``."""
    return (
        f"{path}: {what} is {size_text(size)}, over the limit of {size_text(limit)}; "
        "check that this is the right file"
    )


def check_regular(
    path: str | os.PathLike[str], info: os.stat_result, what: str, error: ErrorType
) -> None:
    """Raise unless ``info`` (of ``path``) is a regular file."""
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    raise error(f"{path}: {what} must be a regular file, not {kind}; pass the file itself")


def check_file(path: str | os.PathLike[str], limit: int, what: str, error: ErrorType) -> int:
    """Check that ``path`` is a regular file of at most ``limit`` bytes; return its size.

    For files a library opens by name (safetensors, torch, numpy, skops, pandas).

    Raises:
        HypersealError: ``error``: missing, not a regular file, or over ``limit``.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: {what} does not exist; check the path") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from None
    _check_within(path, info, limit, what, error)
    return info.st_size


def _check_within(
    path: str | os.PathLike[str], info: os.stat_result, limit: int, what: str, error: ErrorType
) -> None:
    """Raise unless ``info`` (of ``path``) is a regular file of at most ``limit`` bytes."""
    check_regular(path, info, what, error)
    if info.st_size > limit:
        raise error(too_big(path, what, info.st_size, limit))


def read_bytes(path: str | os.PathLike[str], limit: int, what: str, error: ErrorType) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes (checked before reading).

    The file is opened without blocking (a FIFO cannot stall the read), its type and
    size are checked on the open descriptor, and no more than ``limit`` bytes are read
    even if it grows meanwhile.

    Raises:
        HypersealError: ``error``: missing, unreadable, not a regular file, or over ``limit``.
    """
    missing = f"{what} does not exist; check the path"
    data = _read_checked(path, limit, what, error, missing=missing, streams=False)
    if len(data) > limit:
        raise error(f"{path}: {what} grew past the limit of {size_text(limit)} while read")
    return data


def read_sealed(path: str | os.PathLike[str], what: str, missing: str, error: ErrorType) -> bytes:
    """The bytes of a vault or journal: a regular file of at most :data:`MAX_SEALED_FILE`.

    Raises:
        HypersealError: ``error``: missing (with ``missing``, how to fix it), a folder, a
            device, a pipe, too large, or unreadable.
    """
    if not os.path.lexists(path):
        raise error(f"{path}: no such {what}; {missing}")
    return read_bytes(path, MAX_SEALED_FILE, what, error)


def read_small(path: str | os.PathLike[str], what: str, error: ErrorType) -> bytes:
    """The bytes of a key, identity or passphrase file, at most :data:`MAX_KEY_FILE` of them.

    Unlike :func:`read_bytes`, a pipe or a character device is read too
    (``--passphrase-file <(pass show x)``), as far as the limit.

    Raises:
        HypersealError: ``error``: missing, a folder or a device other than a character
            device, larger than the limit, or unreadable.
    """
    missing = f"no such {what}; check the path"
    data = _read_checked(path, MAX_KEY_FILE, what, error, missing=missing, streams=True)
    if len(data) > MAX_KEY_FILE:
        raise error(
            f"{path}: {what} is over the limit of {size_text(MAX_KEY_FILE)}; check that this is"
            " the right file"
        )
    return data


def _read_checked(
    path: str | os.PathLike[str],
    limit: int,
    what: str,
    error: ErrorType,
    *,
    missing: str,
    streams: bool,
) -> bytes:
    """At most ``limit + 1`` bytes of ``path``, opened without blocking (a FIFO cannot stall
    the open) and checked on the open descriptor: a regular file of at most ``limit`` bytes,
    or with ``streams`` also a pipe or a character device (read as far as the limit).

    Raises:
        HypersealError: ``error``: missing (the message ends with ``missing``), unreadable,
            of another type, or over ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not (streams and (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode))):
            _check_within(path, info, limit, what, error)
        if streams:
            os.set_blocking(fd, True)  # a pipe is read as the user meant it to be
        return _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from None
    finally:
        os.close(fd)


def _read_at_most(fd: int, count: int) -> bytes:
    """Read until end of file or ``count`` bytes, whichever comes first."""
    chunks, left = [], count
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], limit: int, what: str, error: ErrorType) -> str:
    """:func:`read_bytes` decoded as UTF-8.

    Raises:
        HypersealError: ``error``: as :func:`read_bytes`, or not UTF-8 text.
    """
    data = read_bytes(path, limit, what, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not UTF-8 text; check this is the right file") from None


def json_memory(data: bytes | str) -> int:
    """An upper estimate of the memory ``json.loads(data)`` takes, from its bytes alone.

    A container (``{``, ``[``) costs up to ~200 bytes once built, a number or a slot up
    to ~32 (``,``) or ~64 (``:``), a string ~28 a quote on top of its text, and the text itself
    is held while it is parsed. Brackets and quotes inside strings count too: the
    estimate errs on the high side (three times the real cost on COCO annotations).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    containers = raw.count(b"{") + raw.count(b"[")
    slots = 32 * raw.count(b",") + 64 * raw.count(b":")  # a key also grows its dict's table
    return 200 * containers + slots + 28 * raw.count(b'"') + 2 * len(raw)


def check_json_memory(
    path: str | os.PathLike[str],
    data: bytes | str,
    what: str,
    error: ErrorType,
    memory_limit: int = MAX_JSON_MEMORY,
    hint: str = "check that this is the right file",
) -> None:
    """Refuse a JSON text whose parsed form would exceed ``memory_limit``."""
    cost = json_memory(data)
    if cost > memory_limit:
        raise error(
            f"{path}: {what} would take about {size_text(cost)} of memory to parse, over the "
            f"limit of {size_text(memory_limit)}; {hint}"
        )


def annotation_limits(error: ErrorType = HypersealError) -> tuple[int, int, str]:
    """``(bytes on disk, parsed memory, hint)`` allowed for a COCO annotation file.

    The defaults keep a hostile file within the 200 MiB every input is held to;
    :data:`ANNOTATION_LIMIT_ENV` raises both for a real dataset (COCO's
    ``instances_val2017.json`` is 25 MB, ``instances_train2017.json`` 448 MB).

    Raises:
        HypersealError: ``error``: the variable is not a whole number of MiB above 0.
    """
    raw = os.environ.get(ANNOTATION_LIMIT_ENV, "").strip()
    if not raw:
        hint = (
            "check that this is the right file; for a large real dataset raise the limit "
            f"with {ANNOTATION_LIMIT_ENV}=MIB (e.g. 1024)"
        )
        return MAX_ANNOTATION_BYTES, MAX_JSON_MEMORY, hint
    try:
        mib = int(raw)
    except ValueError:
        mib = 0
    if mib < 1:
        raise error(f"{ANNOTATION_LIMIT_ENV}={raw!r} must be a whole number of MiB, e.g. 1024")
    size = mib * MiB
    hint = f"check that this is the right file, or raise {ANNOTATION_LIMIT_ENV} (now {mib})"
    return size, max(MAX_JSON_MEMORY, ANNOTATION_MEMORY_FACTOR * size), hint


def with_hint(message: str, hint: str) -> str:
    """A size refusal whose advice is ``hint`` (e.g. how to raise the limit)."""
    return message.replace("check that this is the right file", hint, 1)


def load_json(
    path: str | os.PathLike[str],
    limit: int,
    what: str,
    error: ErrorType,
    *,
    memory_limit: int = MAX_JSON_MEMORY,
    hint: str = "check that this is the right file",
) -> Any:
    """Read and parse a JSON file, bounded in size and in parsed memory.

    Raises:
        HypersealError: ``error``: as :func:`read_bytes`, over ``memory_limit``
            once parsed, or not valid JSON (with its line and column).
    """
    data = read_bytes(path, limit, what, error)
    check_json_memory(path, data, what, error, memory_limit, hint)
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise error(
            f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); fix the file or re-export it"
        ) from None
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not valid JSON (not UTF-8 text); re-export it") from None
    except RecursionError:
        raise error(f"{path}: {what} nests too deeply to be read; re-export it") from None


def read_json_quietly(path: Path, limit: int) -> Any:
    """:func:`load_json`, or None when the file is missing, unreadable, too big or not JSON."""
    try:
        return load_json(path, limit, "file", HypersealError)
    except HypersealError:
        return None


def check_zip(
    path: str | os.PathLike[str],
    *,
    max_members: int,
    max_bytes: int,
    what: str,
    error: ErrorType,
) -> None:
    """Refuse a zip file (``.npz``, skops) that would unpack to more than ``max_bytes``.

    Checked before anything is extracted: the number of members, the sum of their
    declared uncompressed sizes (``zipfile`` never returns more than that), the shape
    and dtype in the header of every member that is an array, whatever its name (numpy
    allocates them before reading the data), and the parsed size of every ``.json`` member.

    Raises:
        HypersealError: ``error``: not a zip file, too many members, or too much data.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > max_members:
                raise error(
                    f"{path}: {what} has {len(members)} members, over the limit of {max_members}; "
                    "check that this is the right file"
                )
            declared = sum(info.file_size for info in members)
            if declared > max_bytes:
                raise error(too_big(path, f"{what} (unpacked)", declared, max_bytes))
            arrays = 0
            for info in members:  # numpy reads any member that starts like an array
                arrays += _npy_bytes(archive, info, path, what, error)
                if info.filename.endswith(".json"):
                    check_json_memory(path, archive.read(info), what, error)
            if arrays > max_bytes:
                raise error(too_big(path, f"{what} (its arrays)", arrays, max_bytes))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise error(f"{path}: {what} is not a readable zip file ({exc}); re-export it") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def _npy_bytes(archive: Any, info: Any, path: Any, what: str, error: ErrorType) -> int:
    """The bytes numpy allocates for a member that is an array (0 for any other), from its
    header alone."""
    import math

    import numpy as np
    from numpy.lib import format as npy

    with archive.open(info) as handle:
        if handle.read(len(npy.MAGIC_PREFIX)) != npy.MAGIC_PREFIX:
            return 0
        try:
            version = tuple(handle.read(2))
            if len(version) != 2:
                raise ValueError("the header ends early")
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = npy.read_array_header_2_0(handle)
            else:
                raise ValueError(f"npy format version {version} is not supported")
        except (ValueError, SyntaxError, TypeError) as exc:
            raise error(
                f"{path}: {what} member {info.filename} is not a readable array ({exc})"
            ) from None
    return math.prod(shape) * max(np.dtype(dtype).itemsize, 1)
