"""Hostile input files, small on disk, that would cost far more once parsed or built.

Shared by ``test_bounded_inputs.py`` (each is refused in one line) and its memory
probe (the refusal keeps the process within 200 MiB of its baseline).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

MiB = 1 << 20

#: The classes of the hostile manifest (the issue's 200,000).
MANY_CLASSES = 200_000


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _zip_of_zeros(path: Path, member: str, head: bytes, zeros: int) -> Path:
    """A deflated zip member: ``head`` then ``zeros`` zero bytes, written in chunks."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(member, "w", force_zip64=True) as handle,
    ):
        handle.write(head)
        chunk = bytes(MiB)
        for _ in range(zeros // MiB):
            handle.write(chunk)
    return path


def npz_bomb(folder: Path) -> Path:
    """A ~400 KB ``.npz`` whose ``coef`` unpacks to 400 MB (the issue's example)."""
    return _zip_of_zeros(folder / "bomb.npz", "coef.npy", _npy_header((50_000_000,)), 400 * MiB)


def npz_shape_bomb(folder: Path) -> Path:
    """A tiny ``.npz`` whose array header declares 80 GB (numpy allocates before reading)."""
    with zipfile.ZipFile(folder / "shape.npz", "w") as archive:
        archive.writestr("coef.npy", _npy_header((10_000_000_000,)) + bytes(64))
    return folder / "shape.npz"


def skops_bomb(folder: Path) -> Path:
    """A ``.skops`` file (zip) whose array member unpacks to 400 MB."""
    path = _zip_of_zeros(folder / "bomb.skops", "arr.npy", _npy_header((50_000_000,)), 400 * MiB)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("schema.json", json.dumps({"__class__": "Ridge", "protocol": 2}))
    return path


def torch_bomb(folder: Path) -> Path:
    """A ``.pt`` (torch zip layout) whose data record unpacks to 400 MB, beside a release."""
    release = tiny_release(folder)
    return _zip_of_zeros(release / "weights.pt", "archive/data/0", b"", 400 * MiB)


def tiny_release(folder: Path) -> Path:
    """A real release folder of the tiny FCOS detector (three classes)."""
    from tuner.detectors import ModelSpec, build_detector
    from tuner.release import save_release

    out = folder / "release"
    if not (out / "manifest.json").exists():
        spec = ModelSpec("fcos", "tiny", 64, ("car", "person", "sign"))
        save_release(build_detector(spec), spec, out)
    return out


def _release_with(folder: Path, weights: bytes, classes: int, name: str) -> Path:
    out = folder / name
    out.mkdir()
    (out / "weights.safetensors").write_bytes(weights)
    manifest = {
        "format": "hyperseal-model/1",
        "model": {
            "arch": "fcos",
            "backbone": "tiny",
            "image_size": 64,
            "classes": ["x"] * classes,  # short names: the manifest stays under 1 MiB
        },
        "weights": "weights.safetensors",
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "parameters": 1,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, separators=(",", ":")))
    return out


def _safetensors(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def many_classes(folder: Path) -> Path:
    """A release whose manifest lists 200,000 classes (a 116M-parameter detector)."""
    tensor = {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    return _release_with(folder, _safetensors(tensor, bytes(4)), MANY_CLASSES, "classes")


def huge_tensor(folder: Path) -> Path:
    """A release whose safetensors header declares a 10-billion-value tensor."""
    tensor = {"x": {"dtype": "F32", "shape": [10_000_000_000], "data_offsets": [0, 4]}}
    return _release_with(folder, _safetensors(tensor, bytes(4)), 3, "tensor")


def huge_header(folder: Path) -> Path:
    """A release whose safetensors file claims a 1 TiB header."""
    return _release_with(folder, struct.pack("<Q", 1 << 40) + b"{}", 3, "header")


def json_bomb(folder: Path) -> Path:
    """A COCO annotation file of 12 MB of empty objects (about 300 MB once parsed)."""
    path = folder / "instances_train.json"
    with open(path, "wb") as handle:
        handle.write(b'{"images": [')
        handle.write(b"{}," * (4 * MiB))
        handle.write(b'{}], "annotations": [], "categories": []}')
    return path


def huge_json(folder: Path) -> Path:
    """A COCO annotation file of 100 MB (sparse: no disk used)."""
    path = folder / "instances_big.json"
    with open(path, "wb") as handle:
        handle.truncate(100 * MiB)
    return path


def yaml_bomb(folder: Path) -> Path:
    """A search space of nine lines that expands to a billion values."""
    lines = ["lr: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(8):
        lines.append(f"k{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]")
    path = folder / "space.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def dense_csv(folder: Path) -> Path:
    """A 10 MB CSV of five million zeros (several times that once parsed and copied)."""
    path = folder / "dense.csv"
    path.write_text("a,b,c,d,y\n" + "0,0,0,0,0\n" * 1_000_000)
    return path


def wide_parquet(folder: Path) -> Path:
    """A few-KiB Parquet file of six million zeros (constant columns compress to nothing)."""
    import pandas as pd

    column = [0] * 2_000_000
    path = folder / "wide.parquet"
    pd.DataFrame({"y": column, "a": column, "b": column}).to_parquet(path)
    return path


HOSTILE: dict[str, Callable[[Path], Path]] = {
    "dense csv": dense_csv,
    "wide parquet": wide_parquet,
    "npz bomb": npz_bomb,
    "npz shape bomb": npz_shape_bomb,
    "skops bomb": skops_bomb,
    "torch bomb": torch_bomb,
    "many classes": many_classes,
    "huge tensor": huge_tensor,
    "huge header": huge_header,
    "json bomb": json_bomb,
    "huge json": huge_json,
    "yaml bomb": yaml_bomb,
}


def npz_unnamed_array(folder: Path) -> Path:
    """A tiny ``.npz`` whose member has no ``.npy`` suffix but an array header of 80 GB."""
    with zipfile.ZipFile(folder / "unnamed.npz", "w") as archive:
        archive.writestr("coef", _npy_header((10_000_000_000,)) + bytes(64))
    return folder / "unnamed.npz"


HOSTILE["npz unnamed array"] = npz_unnamed_array
