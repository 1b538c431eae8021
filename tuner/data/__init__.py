"""Datasets: the built-in synthetic driving scenes and COCO folders from users.

The public names are importable from here; they load lazily so that importing the
package (the CLI does) does not import torch.

* :func:`generate_synthetic`, :data:`CLASSES` (:mod:`tuner.data.synth`)
* :func:`load_coco`, :class:`CocoSplit` (:mod:`tuner.data.coco`)
* :class:`DetectionDataset`, :func:`collate` (:mod:`tuner.data.dataset`)
* :func:`resolve_data`, :class:`DataSplits` (:mod:`tuner.data.resolve`)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CLASSES": "tuner.data.synth",
    "SynthSummary": "tuner.data.synth",
    "generate_synthetic": "tuner.data.synth",
    "CocoSplit": "tuner.data.coco",
    "load_coco": "tuner.data.coco",
    "DetectionDataset": "tuner.data.dataset",
    "collate": "tuner.data.dataset",
    "DataSplits": "tuner.data.resolve",
    "resolve_data": "tuner.data.resolve",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tuner.data' has no attribute {name!r}")
