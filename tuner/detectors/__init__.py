"""The detector zoo: torchvision detectors on a tiny CPU backbone or torchvision backbones.

Every model is built with ``weights=None, weights_backbone=None``: hyperseal
never downloads weights.
"""

from __future__ import annotations

from tuner.detectors.spec import ARCHITECTURES, BACKBONES, ModelSpec
from tuner.detectors.zoo import build_detector, count_parameters

__all__ = ["ARCHITECTURES", "BACKBONES", "ModelSpec", "build_detector", "count_parameters"]
