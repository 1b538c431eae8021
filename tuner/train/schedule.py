"""Learning-rate schedule: linear warm-up, then cosine, step or constant."""

from __future__ import annotations

import math

from tuner.train.config import TrainConfig

#: Fraction of the peak learning rate at the first warm-up step.
WARMUP_START = 0.001


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        alpha = step / warmup_steps
        return WARMUP_START + (1.0 - WARMUP_START) * alpha
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    # step: ×0.1 at 2/3 and again at 8/9 of training, as detection recipes do
    return 0.1 ** ((progress >= 2 / 3) + (progress >= 8 / 9))


def schedule_for(config: TrainConfig, steps_per_epoch: int) -> tuple[int, int]:
    """(total steps, warm-up steps) of a run."""
    total = config.epochs * steps_per_epoch
    warmup = min(total, round(config.warmup_epochs * steps_per_epoch))
    return total, warmup
