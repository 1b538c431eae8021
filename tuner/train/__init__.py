"""Training of detectors: the config, the optimizer, the schedule, the loop.

Reading order: :mod:`~tuner.train.config` (``TrainConfig``, what the CLI's
``--config`` and the tuner fill), :mod:`~tuner.train.params` (the optimizer),
:mod:`~tuner.train.schedule` (the learning rate per step), :mod:`~tuner.train.loop`
(``train_detector``), :mod:`~tuner.train.run` (``hyperseal train``).

Names are loaded on first use, so importing :class:`TrainConfig` does not
import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuner._lazy import lazy_exports

if TYPE_CHECKING:
    from tuner.train.config import TrainConfig, load_config
    from tuner.train.device import resolve_device
    from tuner.train.loop import EpochReport, OnEpoch, TrainResult, train_detector
    from tuner.train.params import build_optimizer, split_decayed

_WHERE = {
    "TrainConfig": "tuner.train.config",
    "load_config": "tuner.train.config",
    "EpochReport": "tuner.train.loop",
    "OnEpoch": "tuner.train.loop",
    "TrainResult": "tuner.train.loop",
    "resolve_device": "tuner.train.device",
    "train_detector": "tuner.train.loop",
    "build_optimizer": "tuner.train.params",
    "split_decayed": "tuner.train.params",
}

__all__ = [
    "EpochReport",
    "OnEpoch",
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "load_config",
    "resolve_device",
    "split_decayed",
    "train_detector",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
