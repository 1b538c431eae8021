"""Released models: ``weights.safetensors`` + ``manifest.json``.

The manifest says what the model is (architecture, backbone, image size,
classes) and pins the weights by SHA-256; it holds nothing of the training
recipe. Loading refuses anything but this layout, except a torch state dict
read with ``weights_only=True`` when the caller passes one explicitly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.bounded import MAX_MANIFEST_BYTES, load_json
from tuner.detectors.spec import ModelSpec
from tuner.errors import ModelError
from tuner.plaintext import dumps

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "hyperseal-model/1"
WEIGHTS = "weights.safetensors"
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_release(model: nn.Module, spec: ModelSpec, out: Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as a release folder and return the manifest path.

    Raises:
        ModelError: ``out`` already holds a release and ``overwrite`` is False.
    """
    from safetensors.torch import save

    out = Path(out)
    if (out / WEIGHTS).exists() and not overwrite:
        raise ModelError(f"{out} already holds a released model; choose another --out folder")
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={"format": FORMAT})
    return _write_release(out, data, spec, int(sum(v.numel() for v in state.values())))


def write_release_bytes(weights: bytes, spec: ModelSpec, out: Path) -> Path:
    """Write (or replace) a release folder from serialised safetensors bytes."""
    from safetensors.torch import load

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parameters = int(sum(v.numel() for v in load(weights).values()))
    return _write_release(out, weights, spec, parameters)


def _write_release(out: Path, weights: bytes, spec: ModelSpec, parameters: int) -> Path:
    """Write the weights into the existing folder ``out``, then the manifest that pins them;
    return the manifest's path."""
    _write(out / WEIGHTS, weights)
    manifest = {
        "format": FORMAT,
        "model": spec.to_dict(),
        "weights": WEIGHTS,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "parameters": parameters,
    }
    path = out / MANIFEST
    _write(path, dumps("manifest.json", manifest))
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of a release folder."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        raise ModelError(
            f"{folder} is not a released model: {MANIFEST} is missing "
            "(expected weights.safetensors + manifest.json, as `hyperseal train` writes)"
        )
    manifest = load_json(path, MAX_MANIFEST_BYTES, "the model's manifest", ModelError)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} manifest; re-export the model with hyperseal")
    return manifest


def load_release(folder: Path, *, device: str = "cpu") -> tuple[nn.Module, ModelSpec]:
    """Rebuild the detector of a release folder and load its weights (checked by hash).

    Raises:
        ModelError: Missing or altered files, or weights that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from tuner.detectors import build_detector
    from tuner.weights import check_safetensors

    folder = Path(folder)
    manifest = read_manifest(folder)
    try:
        spec = ModelSpec.from_dict(manifest.get("model", {}))
    except ModelError as exc:
        raise ModelError(f"{folder / MANIFEST}: {exc}; restore it from the release") from None
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{weights} is missing; the release folder is incomplete")
    if sha256_file(weights) != manifest.get("weights_sha256"):
        raise ModelError(f"{weights} does not match the hash in {MANIFEST}; the file was altered")
    check_safetensors(weights, spec, ModelError, ModelError)  # before a tensor is read
    try:
        state = load_file(str(weights), device=device)
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{weights} is not a readable safetensors file ({exc})") from None
    model = build_detector(spec)
    _load_state(model, state, str(weights))
    model.to(device).eval()
    return model, spec


def load_torch_state(path: Path, spec: ModelSpec, *, device: str = "cpu") -> nn.Module:
    """Load a torch state-dict file safely (``weights_only=True``) into a fresh detector."""
    import torch

    from tuner.detectors import build_detector
    from tuner.weights import check_torch_file

    check_torch_file(Path(path), spec, ModelError)  # before a tensor is read
    try:
        state = torch.load(Path(path), map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many kinds for untrusted or corrupt input
        raise ModelError(
            f"{path} is not a plain torch state dict ({type(exc).__name__}); "
            "only weights are loaded, never pickled code"
        ) from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    model = build_detector(spec)
    _load_state(model, state, str(path))
    return model.to(device).eval()


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    if not isinstance(state, dict):
        raise ModelError(f"{where} does not hold a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        expected = set(model.state_dict())
        missing = sorted(expected - set(state))
        extra = sorted(set(state) - expected)
        detail = "tensor shapes differ"
        if missing:
            detail = f"missing {missing[0]!r}"
        elif extra:
            detail = f"unexpected {extra[0]!r}"
        raise ModelError(
            f"{where} does not fit the architecture in the manifest ({detail})"
        ) from None


def _write(path: Path, data: bytes) -> None:
    """Write one file of a release through the project's atomic writer (mode 0600)."""
    from tuner.errors import OutputError
    from tuner.vault.atomic import atomic_write

    atomic_write(path, data, error=OutputError)
