"""Objectives the benchmarks tune, each with its search space.

All are plain frozen dataclasses (picklable), so they run unchanged in this
process, in spawned worker processes and on Dask workers, exactly like the
detector objective ``hyperseal tune`` uses.

- :class:`MLPObjective`: a real, cheap tuning problem: a one-hidden-layer torch
  MLP trained for a few epochs on scikit-learn's digits; fitness = validation
  accuracy. Searched: lr (log), weight_decay (log), momentum, batch size
  (choice), optimizer (choice sgd/adamw), hidden width (int).
- :class:`ArtificialObjective`: one of Nevergrad's artificial functions
  (sphere, rastrigin, ...) in 5 dimensions behind a mixed space (log, float,
  int and choice coordinates); fitness = minus the function value.
- :func:`detector_problem`: the tiny FCOS on synthetic scenes, through
  :class:`tuner.objectives.detector_trial.DetectorObjective`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tuner.search.space import Param, SearchSpace, default_space
from tuner.search.trial import TrialContext


# -- (a) a small MLP on scikit-learn's digits -------------------------------------------
def mlp_space() -> SearchSpace:
    """Six hyperparameters of a small MLP; defaults are a sensible hand-picked recipe."""
    return SearchSpace(
        (
            Param("optimizer", "choice", "sgd", choices=("sgd", "adamw")),
            Param("lr", "log", 0.01, 1e-4, 1.0),
            Param("momentum", "float", 0.9, 0.0, 0.99),
            Param("weight_decay", "log", 1e-4, 1e-6, 1e-1),
            Param("batch_size", "choice", 64, choices=(16, 32, 64, 128)),
            Param("hidden", "int", 64, 8, 256),
        )
    )


@lru_cache(maxsize=1)
def _digits(split_seed: int) -> tuple[Any, Any, Any, Any]:
    """Standardised digits, split 50/50 into train and validation (data only, no results)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.5, random_state=split_seed, stratify=y
    )
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    return as_x(x_train), as_y(y_train), as_x(x_val), as_y(y_val)


@dataclass(frozen=True)
class MLPObjective:
    """Train a 64-h-10 MLP for ``epochs`` epochs; report validation accuracy each epoch.

    ``seed`` seeds initialisation and shuffling, like ``TrainConfig.seed``: within
    one search the same config always gives the same accuracy; another seed
    gives another draw of the training noise. ``epochs`` is kept small so that
    the learning rate, batch size and optimizer matter.
    """

    epochs: int = 3
    seed: int = 0
    split_seed: int = 0

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        import torch

        x_train, y_train, x_val, y_val = _digits(self.split_seed)
        torch.manual_seed(self.seed)
        hidden = int(params["hidden"])
        model = torch.nn.Sequential(
            torch.nn.Linear(x_train.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
        )
        lr, decay, momentum = (
            float(params["lr"]),
            float(params["weight_decay"]),
            float(params["momentum"]),
        )
        if params["optimizer"] == "adamw":
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(
                model.parameters(), lr=lr, betas=(momentum, 0.999), weight_decay=decay
            )
        else:
            optimizer = torch.optim.SGD(
                model.parameters(), lr=lr, momentum=momentum, weight_decay=decay
            )
        batch = int(params["batch_size"])
        generator = torch.Generator().manual_seed(self.seed)
        loss_fn = torch.nn.CrossEntropyLoss()
        metrics: dict[str, float] = {}
        for epoch in range(1, self.epochs + 1):
            model.train()
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                loss = loss_fn(model(x_train[idx]), y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                logits = model(x_val)
            accuracy = float((logits.argmax(1) == y_val).float().mean())
            if not torch.isfinite(logits).all():
                accuracy = 0.0  # a diverged network is as bad as it gets
            metrics = {"accuracy": accuracy}
            if trial.report(epoch, metrics):
                break
        return metrics


# -- (c) a Nevergrad artificial function behind a mixed space ---------------------------
_CHOICE_LEVELS = (-4.0, -2.0, 0.0, 2.0, 4.0)


def artificial_space() -> SearchSpace:
    """Five coordinates of a 5-D function on [-5, 5]: log, two floats, int and choice."""
    return SearchSpace(
        (
            Param("x0", "log", 1.0, 1e-2, 1e2),
            Param("x1", "float", 0.0, -5.0, 5.0),
            Param("x2", "float", 0.0, -5.0, 5.0),
            Param("x3", "int", 0, -5, 5),
            Param("x4", "choice", "c2", choices=("c0", "c1", "c2", "c3", "c4")),
        )
    )


@lru_cache(maxsize=8)
def _function(name: str, seed: int) -> Any:
    from nevergrad.functions import ArtificialFunction

    function = ArtificialFunction(name, block_dimension=5)
    function.parametrization.random_state.seed(seed)  # draws the random translation
    function(function.parametrization.value)  # fix it now
    return function


@dataclass(frozen=True)
class ArtificialObjective:
    """``-f(z)`` for Nevergrad's ``ArtificialFunction(name, block_dimension=5)``.

    ``seed`` draws the function's random translation (its optimum moves), so
    each seed is a different instance. ``z`` maps the mixed space onto
    [-5, 5]^5: ``x0`` on a log axis, ``x3`` an integer, ``x4`` one of five levels.
    """

    name: str = "sphere"
    seed: int = 0

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        import numpy as np

        z = np.array(
            [
                2.5 * math.log10(float(params["x0"])),
                float(params["x1"]),
                float(params["x2"]),
                float(int(params["x3"])),
                _CHOICE_LEVELS[int(str(params["x4"])[1:])],
            ]
        )
        value = -float(_function(self.name, self.seed)(z))
        metrics = {"score": value}
        trial.report(1, metrics)
        return metrics


# -- (b) the tiny detector on synthetic scenes ------------------------------------------
@dataclass(frozen=True)
class DetectorSettings:
    """How big a detector trial is (kept small so a benchmark run fits its time)."""

    images: int = 128
    image_size: int = 64
    epochs: int = 3
    fitness: str = "mAP50"


def detector_problem(settings: DetectorSettings, seed: int) -> tuple[Any, SearchSpace]:
    """The tiny-FCOS objective (training seeded by ``seed``) and the built-in space."""
    from tuner.objectives.detector_trial import DataRef, DetectorObjective

    objective = DetectorObjective(
        DataRef("synthetic", settings.images, settings.image_size, 0),
        arch="fcos",
        backbone="tiny",
        image_size=settings.image_size,
        base={"seed": seed},
        keep_weights=False,
    )
    return objective, default_space(settings.epochs)
