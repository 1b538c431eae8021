"""Small networks trained with a known weight decay: the truth the audit is measured against.

Each family is a classifier on scikit-learn's digits (1,797 images of 8x8
pixels; bundled with scikit-learn, nothing is downloaded): MLPs
64-128-64-10 and small CNNs (two 3x3 convs, then a linear layer), each without
normalisation, with BatchNorm or with GroupNorm after every hidden layer,
ReLU activations. :func:`train_reference` trains one as hyperseal trains
(torch's SGD with momentum 0.9, cosine schedule, coupled decay on conv and
linear weights only: :func:`tuner.train.params.split_decayed`), on random
batches with a short last batch dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import Tensor, nn

from tuner.train.params import split_decayed

__all__ = [
    "FAMILIES",
    "Reference",
    "cross_entropy",
    "digits",
    "make_net",
    "sgd_with_decay",
    "train_full_batch",
    "train_reference",
]

#: ``shape-norm``: shape ``mlp`` or ``cnn``, norm ``none``, ``bn`` or ``gn``.
FAMILIES = ("mlp-none", "mlp-bn", "mlp-gn", "cnn-none", "cnn-bn", "cnn-gn")


@dataclass
class Reference:
    """A trained network and what the attacker and the owner know of it."""

    model: nn.Module
    family: str
    weight_decay: float
    batch_size: int
    epochs: int
    lr: float
    seed: int
    X: Tensor
    y: Tensor

    def batches(self) -> list[tuple[Tensor, Tensor]]:
        """The training data in batches of the training batch size (the attacker's view)."""
        n, b = len(self.X), self.batch_size
        return [(self.X[i : i + b], self.y[i : i + b]) for i in range(0, n, b)]


def cross_entropy(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """The training loss of the reference networks."""
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


@cache
def digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's digits, pixels scaled to [0, 1], as float32 rows and int64 labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)


def _norm(kind: str, channels: int, dims: int) -> list[nn.Module]:
    if kind == "bn":
        return [nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)]
    if kind == "gn":
        return [nn.GroupNorm(8, channels)]
    return []


def make_net(family: str, seed: int = 0) -> nn.Module:
    """A freshly initialised network of ``family`` (see :data:`FAMILIES`)."""
    shape, _, norm = family.partition("-")
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    torch.manual_seed(seed)
    if shape == "mlp":
        return nn.Sequential(
            nn.Linear(64, 128),
            *_norm(norm, 128, 1),
            nn.ReLU(),
            nn.Linear(128, 64),
            *_norm(norm, 64, 1),
            nn.ReLU(),
            nn.Linear(64, 10),
        )
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1),
        *_norm(norm, 16, 2),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        *_norm(norm, 32, 2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 16, 10),
    )


def sgd_with_decay(
    model: nn.Module, weight_decay: float, lr: float, decay_norm_and_bias: bool = False
) -> torch.optim.SGD:
    """torch's SGD with momentum 0.9 and coupled decay on the parameters training decays."""
    decayed, plain = split_decayed(model, decay_norm_and_bias)
    return torch.optim.SGD(
        [
            {"params": [p for _, p in decayed], "weight_decay": weight_decay},
            {"params": [p for _, p in plain], "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=0.9,
    )


def _cosine(optimizer: torch.optim.Optimizer, lr: float, step: int, steps: int) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))


def train_full_batch(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], Tensor],
    batch: Any,
    weight_decay: float,
    *,
    steps: int = 1500,
    lr: float = 0.2,
    decay_norm_and_bias: bool = False,
) -> nn.Module:
    """Full-batch SGD to (near) convergence: momentum 0.9, cosine schedule, one batch a step."""
    optimizer = sgd_with_decay(model, weight_decay, lr, decay_norm_and_bias)
    model.train()
    for step in range(steps):
        _cosine(optimizer, lr, step, steps)
        optimizer.zero_grad()
        loss_fn(model, batch).backward()
        optimizer.step()
    return model


def train_reference(
    family: str,
    weight_decay: float,
    *,
    batch_size: int = 64,
    epochs: int = 60,
    lr: float = 0.1,
    seed: int = 0,
) -> Reference:
    """Train a network of ``family`` on the digits with a known weight decay."""
    X, y = digits()
    model = make_net(family, seed)
    optimizer = sgd_with_decay(model, weight_decay, lr)
    n = len(X)
    per_epoch = n // batch_size
    steps = epochs * per_epoch
    generator = torch.Generator().manual_seed(seed)
    model.train()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for i in range(per_epoch):
            _cosine(optimizer, lr, step, steps)
            index = order[i * batch_size : (i + 1) * batch_size]
            optimizer.zero_grad()
            cross_entropy(model, (X[index], y[index])).backward()
            optimizer.step()
            step += 1
    return Reference(model, family, weight_decay, batch_size, epochs, lr, seed, X, y)
