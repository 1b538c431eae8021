"""A trial's declared artifacts: packed where the trial ran, unpacked as the run's ``best/``.

An objective declares files or folders (``trial.add_artifact``, ``--artifact``).
When the trial succeeds they are packed into one tar archive in memory (so they
reach the driver from a local process or a Dask worker alike); the driver
unpacks the winning trial's archive as ``RUN_DIR/best/``, replacing the previous
best, and scans it for searched values left in plaintext (training code likes to
save its own config next to its weights).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tuner.errors import ConfigError

#: The most bytes a trial's artifacts may take (they travel in memory to the driver).
MAX_ARTIFACT_BYTES = 2 * 1024**3
#: Files larger than this are not scanned for searched values (weights are binary anyway).
MAX_SCAN_BYTES = 256 * 1024**2


class ArtifactError(ConfigError):
    """A declared artifact is missing, too large, or not a plain file or folder."""


def pack(paths: Iterable[str], base: Path) -> bytes:
    """A tar archive of ``paths`` (relative to ``base`` unless absolute), each under its own name.

    Raises:
        ArtifactError: a path is missing, a link, two share a name, or they are too large.
    """
    buffer = io.BytesIO()
    names: set[str] = set()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for declared in paths:
            path = Path(declared) if Path(declared).is_absolute() else base / declared
            if path.is_symlink() or not path.exists():
                raise ArtifactError(
                    f"declared artifact {declared!r} was not written by the trial (or is a link);"
                    " write it, or declare another path"
                )
            if path.name in names:
                raise ArtifactError(f"two declared artifacts are named {path.name!r}; rename one")
            names.add(path.name)
            total += _size(path)
            if total > MAX_ARTIFACT_BYTES:
                raise ArtifactError(
                    f"declared artifacts exceed {MAX_ARTIFACT_BYTES // 1024**3} GiB; declare the"
                    " weights only"
                )
            archive.add(path, arcname=path.name, filter=_plain_only)
    return buffer.getvalue()


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _plain_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Keep files and folders; drop links and devices; store no owner."""
    if not (info.isfile() or info.isdir()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600 if info.isfile() else 0o700
    return info


def unpack_best(archive: bytes, best_dir: Path) -> list[Path]:
    """Replace ``best_dir`` with the files of ``archive``; returns the files written.

    The archive is unpacked beside ``best_dir`` (a 0700 folder) and swapped in by
    renames, so that a crash leaves the old best or the new one.
    """
    parent = best_dir.parent
    staging = parent / f".{best_dir.name}.new"
    old = parent / f".{best_dir.name}.old"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir(mode=0o700)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        tar.extractall(staging, filter="data")
    for path in staging.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    if best_dir.exists():
        best_dir.rename(old)
    staging.rename(best_dir)
    shutil.rmtree(old, ignore_errors=True)
    return sorted(p for p in best_dir.rglob("*") if p.is_file())


#: Shortest printed form looked for: in any file, and in a binary file (weights), where
#: a short byte string occurs by chance (a 3-byte form turns up every 16 MB of random data).
MIN_FORM, MIN_BINARY_FORM = 3, 6


def value_forms(value: Any, *, binary: bool = False) -> list[bytes]:
    """How a searched value may appear in a file: its printed forms (text) and, for a
    float, its IEEE-754 bytes (pickles, checkpoints). Forms shorter than
    :data:`MIN_FORM` (:data:`MIN_BINARY_FORM` in a ``binary`` file) are left out: they
    occur by chance (a batch size of 8, a momentum of 0.9 among a model's weights)."""
    if isinstance(value, bool):
        return []
    forms: set[str] = set()
    packed: set[bytes] = set()
    if isinstance(value, float):
        forms |= {repr(value), str(value), f"{value:g}", f"{value:.6g}", f"{value:e}"}
        mantissa, e, exponent = repr(value).partition("e")
        if e and "." not in mantissa:
            forms.add(f"{mantissa}.0e{exponent}")  # as YAML writes 1e-05: 1.0e-05
        packed |= {struct.pack("<d", value), struct.pack(">d", value)}
    elif isinstance(value, int):
        forms.add(str(value))
    elif isinstance(value, str):
        forms.add(value)
    shortest = MIN_BINARY_FORM if binary else MIN_FORM
    return [f.encode("utf-8") for f in sorted(forms) if len(f) >= shortest] + sorted(packed)


def _pattern(form: bytes) -> re.Pattern[bytes]:
    """``form`` standing on its own: not part of a longer number or word (0.9 in 0.95)."""
    word = rb"0-9A-Za-z_"
    left = rb"(?<![" + word + rb".])" if form[:1].isalnum() else b""
    right = rb"(?![" + word + rb"])" if form[-1:].isalnum() else b""
    return re.compile(left + re.escape(form) + right)


def is_binary(data: bytes) -> bool:
    """Whether ``data`` looks binary (a NUL, or not UTF-8, in its first 8 KiB)."""
    head = data[:8192]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a character cut at the end is still text
    return False


def searched_value_files(
    files: Iterable[Path], values: Mapping[str, Any], root: Path
) -> dict[str, list[str]]:
    """``{file (relative to root): [parameter names]}`` for files holding a searched value."""
    found: dict[str, list[str]] = {}
    for path in files:
        try:
            if path.stat().st_size > MAX_SCAN_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        binary = is_binary(data)
        names = [
            name
            for name, value in values.items()
            if any(_pattern(f).search(data) for f in value_forms(value, binary=binary))
        ]
        if names:
            found[path.relative_to(root).as_posix()] = names
    return found
