"""What a detector is, in plain data: architecture, backbone, image size, classes.

A :class:`ModelSpec` is everything needed to rebuild a released model. It is
written to ``manifest.json`` and holds nothing secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tuner.errors import ModelError

ARCHITECTURES: tuple[str, ...] = ("fcos", "retinanet", "fasterrcnn", "ssdlite")
BACKBONES: tuple[str, ...] = ("tiny", "mobilenet_v3", "resnet50")
#: The most classes a detector may have (a manifest or dataset listing more is refused
#: before any model is built: each class adds parameters to every head).
MAX_CLASSES = 1000


@dataclass(frozen=True)
class ModelSpec:
    """A detector's architecture.

    Args:
        arch: One of :data:`ARCHITECTURES`.
        backbone: One of :data:`BACKBONES`; ``tiny`` trains on a CPU.
        image_size: Square input size in pixels; images are resized to it.
        classes: Class names, in label order (label 0 is the background).
    """

    arch: str = "fcos"
    backbone: str = "tiny"
    image_size: int = 128
    classes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ModelError(
                f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}"
            )
        if self.backbone not in BACKBONES:
            raise ModelError(
                f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}"
            )
        if self.arch == "ssdlite" and self.backbone == "resnet50":
            raise ModelError("ssdlite runs on the tiny or mobilenet_v3 backbone, not resnet50")
        if not 32 <= int(self.image_size) <= 2048 or int(self.image_size) % 32:
            raise ModelError(
                f"image size {self.image_size} is not usable; give a multiple of 32 in 32..2048"
            )
        classes = tuple(str(c) for c in self.classes)
        if len(classes) > MAX_CLASSES:
            raise ModelError(
                f"{len(classes)} classes, over the limit of {MAX_CLASSES} a detector may have"
            )
        object.__setattr__(self, "classes", classes)

    @property
    def num_classes(self) -> int:
        """Number of classes the detector predicts, background included."""
        return len(self.classes) + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for ``manifest.json``."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; raises :class:`ModelError` on malformed data (a size
        that is not a whole number, classes that are not a list of names)."""
        if not isinstance(data, dict):
            raise ModelError("model description is malformed: not a mapping")
        missing = [k for k in ("arch", "backbone", "image_size", "classes") if k not in data]
        if missing:
            raise ModelError(f"model description is incomplete: no {', '.join(missing)}")
        size, classes = data["image_size"], data["classes"]
        if isinstance(size, bool) or not isinstance(size, int):
            raise ModelError(
                f"model description is malformed: image_size {size!r} is not a whole number"
            )
        if isinstance(classes, list) and len(classes) > MAX_CLASSES:
            raise ModelError(
                f"{len(classes)} classes, over the limit of {MAX_CLASSES} a detector may have"
            )
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ModelError("model description is malformed: classes must be a list of names")
        if not classes:
            raise ModelError("model description is malformed: no classes (a detector needs one)")
        try:
            return cls(
                arch=str(data["arch"]),
                backbone=str(data["backbone"]),
                image_size=int(data["image_size"]),
                classes=tuple(data["classes"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model description is incomplete or malformed ({exc})") from None
