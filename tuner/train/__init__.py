"""Training of detectors: the config, the optimizer, the schedule, the loop."""

from __future__ import annotations

from tuner.train.config import TrainConfig, load_config
from tuner.train.loop import EpochReport, OnEpoch, TrainResult, resolve_device, train_detector
from tuner.train.params import build_optimizer, split_decayed

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
