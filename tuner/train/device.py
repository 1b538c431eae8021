"""``resolve_device``: the one place a device name becomes a ``torch.device``."""

from __future__ import annotations

import torch

from tuner.errors import TrainingError


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``auto``/``None`` picks CUDA when present, else CPU; otherwise the named device.

    Raises:
        TrainingError: The name is not a CPU or CUDA device, or names a GPU this
            machine does not have.
    """
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):  # meta, mps, xpu...: not what training runs on
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} asked for, but CUDA is not available here; use cpu")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise TrainingError(
                f"unknown device {name!r}: this machine has GPUs cuda:0 to cuda:{count - 1}"
            )
    return device
