"""Datasets: the built-in synthetic driving scenes and COCO folders from users.

The public names are importable from here; they load lazily so that importing the
package (the CLI does) does not import torch.

* :func:`generate_synthetic`, :data:`CLASSES` (:mod:`tuner.data.synth`)
* :func:`load_coco`, :class:`CocoSplit` (:mod:`tuner.data.coco`)
* :class:`DetectionDataset`, :func:`collate` (:mod:`tuner.data.dataset`)
* :func:`resolve_data`, :func:`load_folder`, :class:`DataSplits` (:mod:`tuner.data.resolve`)
"""

from __future__ import annotations

from tuner._lazy import lazy_exports

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
    "load_folder": "tuner.data.resolve",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
