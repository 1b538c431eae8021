"""Weights files checked against the manifest's architecture before anything is built or loaded.

A released model's memory is fixed by its architecture: :func:`expected_shapes`
builds the detector on PyTorch's ``meta`` device (no memory, no time) and
lists the shape of every tensor. A weights file is then checked against it
before a byte of tensor data is read:

* ``.safetensors``: the header (at most :data:`MAX_SAFETENSORS_HEADER_BYTES`)
  is read and parsed on its own; every tensor must be named and shaped as the
  architecture says, and its data must lie inside the file.
* ``.pt``/``.pth``/``.bin`` (a torch zip file): the file, and the declared
  uncompressed size of its members, may hold at most the architecture's
  tensors at 8 bytes per value (plus :data:`TORCH_SLACK_BYTES`).

The class count of a manifest is capped by :data:`tuner.detectors.spec.MAX_CLASSES`,
so the architecture itself is bounded.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.bounded import check_file, check_json_memory, too_big
from tuner.errors import HypersealError

if TYPE_CHECKING:
    from tuner.detectors.spec import ModelSpec

#: The JSON header of a ``.safetensors`` file (a detector's is tens of KiB).
MAX_SAFETENSORS_HEADER_BYTES = 8 << 20
#: What a torch weights file may hold beyond its tensors (pickled structure, zip records).
TORCH_SLACK_BYTES = 16 << 20
#: Bytes per value allowed in weights files (float64 and int64 at most).
_MAX_ITEM_BYTES = 8

ErrorType = type[HypersealError]
Shapes = dict[str, tuple[int, ...]]


def expected_shapes(spec: ModelSpec) -> Shapes:
    """Name and shape of every tensor of ``spec``'s state dict, built on the ``meta`` device."""
    import torch

    from tuner.detectors import build_detector

    with torch.device("meta"):
        model = build_detector(spec)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def max_weights_bytes(shapes: Shapes) -> int:
    """The most bytes the tensors of ``shapes`` may take in a file (8 bytes per value)."""
    return _MAX_ITEM_BYTES * sum(math.prod(shape) for shape in shapes.values())


def mismatch(expected: Shapes, found: Shapes) -> str | None:
    """What first differs between two state-dict layouts (``missing 'x'``...), or None."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing:
        return f"missing {missing[0]!r}"
    if extra:
        return f"unexpected {extra[0]!r}"
    for name, shape in expected.items():
        if tuple(found[name]) != tuple(shape):
            return f"{name!r} has shape {tuple(found[name])}, expected {tuple(shape)}"
    return None


def safetensors_shapes(path: Path, error: ErrorType) -> Shapes:
    """The tensor names and shapes a ``.safetensors`` file declares, from its header alone.

    Raises:
        HypersealError: ``error``: not a regular file, a header over
            :data:`MAX_SAFETENSORS_HEADER_BYTES`, or a malformed header.
    """
    size = check_file(path, 1 << 62, "the weights file", error)
    bad = f"{path} is not a readable safetensors file"
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise error(f"{bad} (it ends before its header)")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_SAFETENSORS_HEADER_BYTES:
                raise error(
                    too_big(path, "the safetensors header", length, MAX_SAFETENSORS_HEADER_BYTES)
                )
            if length > size - 8:
                raise error(f"{bad} (its header runs past the end of the file)")
            raw = handle.read(length)
    except OSError as exc:
        raise error(f"{path}: cannot read the weights file ({exc.strerror})") from None
    check_json_memory(path, raw, "the safetensors header", error)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise error(f"{bad} (its header is not valid JSON)") from None
    if not isinstance(header, dict):
        raise error(f"{bad} (its header is not a JSON object)")
    data_bytes = size - 8 - length
    shapes: Shapes = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(shape, list)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_bytes
        ):
            raise error(f"{bad} (tensor {name!r} is malformed in its header)")
        shapes[name] = tuple(shape)
    return shapes


def check_safetensors(
    path: Path, spec: ModelSpec, error: ErrorType, shape_error: ErrorType
) -> None:
    """Refuse a ``.safetensors`` file whose tensors do not fit ``spec``, before loading it.

    Raises:
        HypersealError: ``error`` for a malformed or oversized file; ``shape_error`` when
            the tensors' names or shapes differ from the architecture's.
    """
    expected = expected_shapes(spec)
    detail = mismatch(expected, safetensors_shapes(path, error))
    if detail is not None:
        raise shape_error(fit_message(path, spec, detail))
    limit = max_weights_bytes(expected) + MAX_SAFETENSORS_HEADER_BYTES + 8
    check_file(path, limit, "the weights file", error)


def check_torch_file(path: Path, spec: ModelSpec, error: ErrorType) -> None:
    """Refuse a torch weights file bigger than ``spec``'s tensors can be, before loading it.

    The file's size and, for a zip file (what ``torch.save`` writes), the declared
    uncompressed size of its members are checked; the loaded tensors' shapes are
    checked after loading (by the caller), against the same architecture.

    Raises:
        HypersealError: ``error``: not a regular file, or more bytes than the architecture's
            tensors at 8 bytes a value plus :data:`TORCH_SLACK_BYTES`.
    """
    limit = max_weights_bytes(expected_shapes(spec)) + TORCH_SLACK_BYTES
    check_file(path, limit, "the weights file", error)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load reports it
    if declared > limit:
        raise error(too_big(path, "the weights file (unpacked)", declared, limit))


def fit_message(path: str | os.PathLike[str], spec: ModelSpec, detail: str) -> str:
    """``PATH does not fit the architecture in manifest.json (fcos/tiny, 3 classes): DETAIL``."""
    return (
        f"{path} does not fit the architecture in manifest.json "
        f"({spec.arch}/{spec.backbone}, {len(spec.classes)} classes): {detail}"
    )


__all__ = [
    "MAX_SAFETENSORS_HEADER_BYTES",
    "TORCH_SLACK_BYTES",
    "check_safetensors",
    "check_torch_file",
    "expected_shapes",
    "fit_message",
    "mismatch",
    "safetensors_shapes",
]
