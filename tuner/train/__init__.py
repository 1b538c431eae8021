"""Training of detectors: the config, the optimizer, the schedule, the loop.

Names are loaded on first use, so importing :class:`TrainConfig` does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.train.config import TrainConfig, load_config
    from tuner.train.loop import EpochReport, OnEpoch, TrainResult, resolve_device, train_detector
    from tuner.train.params import build_optimizer, split_decayed

_WHERE = {
    "TrainConfig": "config",
    "load_config": "config",
    "EpochReport": "loop",
    "OnEpoch": "loop",
    "TrainResult": "loop",
    "resolve_device": "loop",
    "train_detector": "loop",
    "build_optimizer": "params",
    "split_decayed": "params",
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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"tuner.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'tuner.train' has no attribute {name!r}")
