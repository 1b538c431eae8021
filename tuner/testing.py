"""Cheap objectives for tests, examples and benchmarks of the search machinery.

They are picklable (module-level classes), so they run in worker processes
and on Dask exactly like the detector objective.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from tuner.search.space import SearchSpace, parse_space
from tuner.search.trial import TrialContext


def quadratic_space() -> SearchSpace:
    """lr (log) drives the objective; noise_knob and flavor do not."""
    return parse_space(
        {
            "lr": {"type": "log", "low": 1e-4, "high": 1.0, "default": 0.1},
            "momentum": {"type": "float", "low": 0.0, "high": 0.99, "default": 0.5},
            "color_jitter": {"type": "float", "low": 0.0, "high": 1.0, "default": 0.5},
            "schedule": {
                "type": "choice",
                "choices": ["cosine", "step", "constant"],
                "default": "cosine",
            },
            "epochs": {"type": "fixed", "value": 6},
        }
    )


@dataclass(frozen=True)
class QuadraticObjective:
    """A learning-curve toy: final 'mAP' peaks at lr = 1e-2 and momentum = 0.9.

    ``color_jitter`` and ``schedule`` have no effect. Each epoch reports
    ``mAP * epoch / epochs``. ``fail_above_lr`` makes trials with a larger lr
    raise; ``sleep`` adds seconds per epoch (for parallel-scaling checks).
    """

    epochs: int = 6
    fail_above_lr: float | None = None
    sleep: float = 0.0

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        lr, momentum = float(params["lr"]), float(params["momentum"])
        if self.fail_above_lr is not None and lr > self.fail_above_lr:
            raise FloatingPointError("loss became nan")
        final = math.exp(-((math.log10(lr) + 2.0) ** 2) / 2.0) * (1.0 - 0.5 * (momentum - 0.9) ** 2)
        metrics: dict[str, float] = {}
        for epoch in range(1, self.epochs + 1):
            if self.sleep:
                time.sleep(self.sleep)
            value = final * epoch / self.epochs
            metrics = {"mAP": value, "mAP50": min(1.0, 1.5 * value)}
            if trial.report(epoch, metrics):
                break
        return metrics


@dataclass(frozen=True)
class CurveObjective:
    """Learning curves that cross, with noise: a stand-in for detector training.

    The final value peaks at lr = 1e-2 and momentum = 0.9; a larger lr learns
    faster early (so early epochs favour it) but ends lower; each epoch's
    value has Gaussian noise of ``noise`` (seeded by the params). Used by
    ``benchmarks/early_stopping.py`` and ``benchmarks/tuner_overhead.py``.
    """

    epochs: int = 9
    noise: float = 0.01

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        import random

        lr, momentum = float(params["lr"]), float(params["momentum"])
        final = 0.6 * math.exp(-((math.log10(lr) + 2.0) ** 2) / 3.0)
        final *= 1.0 - 0.5 * (momentum - 0.9) ** 2
        rate = 0.35 + 0.25 * (math.log10(lr) + 4.0)  # faster start for larger lr
        rng = random.Random(repr(sorted(params.items())))
        metrics: dict[str, float] = {}
        for epoch in range(1, self.epochs + 1):
            value = final * (1.0 - math.exp(-rate * epoch)) + rng.gauss(0.0, self.noise)
            metrics = {"mAP": max(0.0, value)}
            if trial.report(epoch, metrics):
                break
        return metrics


def plaintext_values(folder: Any, values: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """``(file, parameter)`` for every file under ``folder`` that holds one of a parameter's
    ``values`` in a printed form (``repr``, ``%g``, ...) or as float64 bytes; see
    :func:`tuner.objectives.artifacts.searched_value_files`. Empty when nothing leaks."""
    from pathlib import Path

    from tuner.objectives.artifacts import searched_value_files

    root = Path(folder)
    files = [p for p in root.rglob("*") if p.is_file()]
    keyed = {f"{name}\0{i}": value for name, seen in values.items() for i, value in enumerate(seen)}
    found = searched_value_files(files, keyed, root)
    return sorted({(file, key.split("\0")[0]) for file, keys in found.items() for key in keys})
