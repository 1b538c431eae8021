"""Load a released detector for the audit, refusing anything that is not plain weights.

A release is a folder with ``manifest.json`` (architecture, classes, image
size, the weights' SHA-256) and ``weights.safetensors``, as ``hyperseal train``
and ``hyperseal tune`` write them. Accepted:

* the folder, or its ``.safetensors`` file: the weights must match the
  manifest's hash;
* a torch state-dict file (``.pt``, ``.pth``, ``.bin``) next to a manifest,
  read with ``torch.load(weights_only=True)``: tensors only, never pickled
  code; when the manifest names that file its hash is checked too.

Refused, one line each: pickle/joblib files (exit 25), a torch file holding
anything but tensors (exit 25), a missing or malformed manifest, weights that
differ from the manifest's hash or cannot be read (exit 26), weights that do
not fit the manifest's architecture (exit 22), non-finite weights (exit 24).
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import ModelFileError, NonFiniteError, ShapeMismatchError, UnsafeModelError
from tuner.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

    from tuner.detectors import ModelSpec

__all__ = ["ReleasedDetector", "load_released_detector"]

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".dill", ".cloudpickle", ".npy")


@dataclass
class ReleasedDetector:
    """A rebuilt detector with its released weights.

    Attributes:
        model: The detector (eval mode, on the CPU).
        spec: Its architecture from the manifest.
        folder: The release folder.
        weights: The weights file read.
        weights_sha256: SHA-256 of that file.
        pinned: Whether the manifest's hash covers that file.
    """

    model: nn.Module
    spec: ModelSpec
    folder: Path
    weights: Path
    weights_sha256: str
    pinned: bool


def load_released_detector(path: str | Path) -> ReleasedDetector:
    """Rebuild the detector of a release folder (or weights file) and load its weights.

    Raises:
        UnsafeModelError: a pickle file, or a torch file that is not weights-only.
        ModelFileError: no or a malformed manifest, missing, altered or unreadable weights.
        ShapeMismatchError: weights that do not fit the manifest's architecture.
        NonFiniteError: NaN or infinite weights.
    """
    from tuner.detectors import ModelSpec
    from tuner.release import MANIFEST, WEIGHTS, read_manifest, sha256_file
    from tuner.weights import check_safetensors, check_torch_file

    path = Path(path)
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise UnsafeModelError(
            f"refusing to load {path}: pickle files run code when loaded; release "
            "weights.safetensors with its manifest.json"
        )
    if not path.exists():
        raise ModelFileError(
            f"{path} does not exist; pass a release folder (manifest.json + weights)"
        )
    if not path.is_dir():
        _check_weights_file(path, MANIFEST)
    folder = path if path.is_dir() else path.parent
    try:
        manifest = read_manifest(folder)
    except ModelError as exc:
        raise ModelFileError(str(exc)) from None
    try:
        spec = ModelSpec.from_dict(manifest.get("model") or {})
    except ModelError as exc:
        raise ModelFileError(f"{folder / MANIFEST}: {exc}; restore it from the release") from None
    if path.is_dir():
        named = str(manifest.get("weights") or WEIGHTS)
        if Path(named).name != named:
            raise ModelFileError(
                f"{folder / MANIFEST} names weights outside its folder ({named!r})"
            )
        weights = folder / named
    else:
        weights = path
    suffix = weights.suffix.lower()
    if suffix in _PICKLE_SUFFIXES:
        raise UnsafeModelError(f"refusing to load {weights}: a pickle file, not plain weights")
    if suffix not in SAFETENSORS_SUFFIXES + TORCH_SUFFIXES:
        raise ModelFileError(
            f"{weights}: unknown weights format {suffix or '(no suffix)'}; "
            "use .safetensors (or a torch state dict .pt/.pth)"
        )
    if not weights.is_file():
        raise ModelFileError(f"{weights} is missing; the release folder is incomplete")
    digest = sha256_file(weights)
    pinned = weights.name == manifest.get("weights", WEIGHTS)
    if pinned and digest != manifest.get("weights_sha256"):
        raise ModelFileError(
            f"{weights} does not match the SHA-256 in {MANIFEST}: the weights were altered or "
            "belong to another model; restore the release as it was written"
        )
    if suffix in SAFETENSORS_SUFFIXES:  # shapes and sizes before a tensor is read
        check_safetensors(weights, spec, ModelFileError, ShapeMismatchError)
    else:
        check_torch_file(weights, spec, ModelFileError)
    state = _read_safetensors(weights) if suffix in SAFETENSORS_SUFFIXES else _read_torch(weights)
    model = _rebuild(spec, state, weights)
    return ReleasedDetector(model, spec, folder, weights, digest, pinned)


def _check_weights_file(path: Path, manifest: str) -> None:
    """Refuse a file given as ``--model`` that is no weights file beside its manifest.

    Raises:
        ModelFileError: an unknown suffix, or no manifest in the file's folder;
            the message names ``path`` as given.
    """
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES + TORCH_SUFFIXES:
        raise ModelFileError(
            f"{path} is not a released model; pass its release folder ({manifest} + "
            "weights.safetensors, as `hyperseal train` writes) or a weights file in it"
        )
    if not (path.parent / manifest).is_file():
        raise ModelFileError(
            f"{path} has no {manifest} beside it; pass the release folder as "
            "`hyperseal train` writes it (weights.safetensors + manifest.json)"
        )


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable safetensors file ({exc})") from None


def _read_torch(path: Path) -> dict[str, Any]:
    import torch

    try:
        with warnings.catch_warnings():
            # a raw pickle stream makes torch warn about its protocol before refusing it
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeModelError(
            f"refusing {path}: it is not weights-only (it holds pickled objects other than "
            "tensors, which could run code); nothing from it was executed"
        ) from None
    except Exception as exc:  # torch raises many kinds for corrupt input
        raise ModelFileError(
            f"{path} is not a readable torch state dict ({type(exc).__name__})"
        ) from None
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path} does not hold a state dict of tensors")
    return state


def _rebuild(spec: ModelSpec, state: dict[str, Any], where: Path) -> nn.Module:
    import torch

    from tuner.detectors import build_detector

    try:
        model = build_detector(spec)
    except ModelError as exc:
        raise ModelFileError(str(exc)) from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    shapes = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or extra or shapes:
        detail = (
            f"missing {missing[0]!r}"
            if missing
            else f"unexpected {extra[0]!r}"
            if extra
            else f"{shapes[0]!r} has shape {tuple(state[shapes[0]].shape)}, "
            f"expected {tuple(expected[shapes[0]].shape)}"
        )
        raise ShapeMismatchError(
            f"{where} does not fit the architecture in manifest.json "
            f"({spec.arch}/{spec.backbone}, {len(spec.classes)} classes): {detail}"
        )
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(f"{where}: weight {name!r} holds NaN or infinity")
    model.load_state_dict(state, strict=True)
    return model.eval()
