"""The attacker's data, regrouped: several random batchings and, where it fits, one full batch.

With BatchNorm in train mode a gradient depends on which rows share a batch,
so one batching is one draw among many. The attack averages over a few random
batchings at training's batch size and, where the data fits, also tries the
whole set as one batch. What can be regrouped:

* batches that are tensors, or tuples, lists or dicts of tensors sharing their
  first dimension (``(X, y)`` as most training loops use): pooled and split
  again in a seeded random order, at the size of the largest batch given,
  a short last batch left out as training's ``drop_last`` does;
* objects with a ``rebatched(seed)`` method returning new batches of the same
  data (:class:`audit.deep.detector.DetectorBatches`);
* anything else is used as given, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["FULL_BATCH_ROWS", "Batchings"]

#: Rows up to which the whole set is also tried as a single batch.
FULL_BATCH_ROWS = 4096


class Batchings:
    """Random batchings of the attacker's data (see the module's docstring).

    Args:
        batches: What the caller passed to the attack.
        count: Batchings wanted (fewer when the data cannot be regrouped).
        seed: Seed of the random orders.
    """

    def __init__(self, batches: Iterable[Any], count: int = 2, seed: int = 0) -> None:
        self.seed = int(seed)
        self._given = batches
        self._rows: Any = None
        self.n_rows = 0
        self.batch_size = 0
        if hasattr(batches, "rebatched"):
            self.count = max(1, int(count))
            self.kind = "regrouped"
        elif isinstance(batches, Sequence) and batches and _pool(batches) is not None:
            self._rows, self.n_rows = _pool(batches)  # type: ignore[misc]
            self.batch_size = max(_length(b) for b in batches)
            self.count = max(1, int(count)) if self.n_rows > self.batch_size else 1
            self.kind = "regrouped"
        else:
            self.count = 1
            self.kind = "as given"

    def batching(self, k: int) -> Iterable[Any]:
        """The ``k``-th batching (``0 <= k < count``)."""
        if self._rows is not None:
            return _Split(self._rows, self.n_rows, self.batch_size, self.seed + k)
        if hasattr(self._given, "rebatched"):
            return self._given if k == 0 else self._given.rebatched(self.seed + k)  # type: ignore[attr-defined]
        return self._given

    def full(self) -> list[Any] | None:
        """The whole set as one batch, where it can be regrouped and is small enough."""
        if self._rows is None or not self.batch_size < self.n_rows <= FULL_BATCH_ROWS:
            return None
        return [self._rows]

    @property
    def dropped(self) -> int:
        """Rows left out of each batching (a short last batch)."""
        if self._rows is None or self.n_rows <= self.batch_size:
            return 0
        return self.n_rows % self.batch_size


class _Split:
    """A re-iterable, seeded split of pooled rows into batches of ``size``."""

    def __init__(self, rows: Any, n: int, size: int, seed: int) -> None:
        self.rows, self.n, self.size, self.seed = rows, n, size, seed

    def __len__(self) -> int:
        return max(1, self.n // self.size)

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self.n <= self.size:
            yield self.rows
            return
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed))
        for i in range(len(self)):
            yield _take(self.rows, order[i * self.size : (i + 1) * self.size])


def _length(batch: Any) -> int:
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    values = list(batch.values()) if isinstance(batch, Mapping) else list(batch)
    return int(values[0].shape[0])


def _fields(batch: Any) -> list[Tensor] | None:
    if isinstance(batch, Tensor):
        return [batch] if batch.dim() > 0 else None
    if isinstance(batch, Mapping):
        values = list(batch.values())
    elif isinstance(batch, (tuple, list)):
        values = list(batch)
    else:
        return None
    if not values or not all(isinstance(v, Tensor) and v.dim() > 0 for v in values):
        return None
    if len({int(v.shape[0]) for v in values}) != 1:
        return None
    return values


def _pool(batches: Sequence[Any]) -> tuple[Any, int] | None:
    """All rows of same-shaped tensor batches in one batch of the same structure, or ``None``."""
    first = batches[0]
    fields = [_fields(b) for b in batches]
    if any(f is None for f in fields) or len({len(f) for f in fields if f}) != 1:
        return None
    if isinstance(first, Mapping) and any(
        not isinstance(b, Mapping) or list(b) != list(first) for b in batches
    ):
        return None
    if any(type(b) is not type(first) for b in batches):
        return None
    try:
        columns = [torch.cat(col) for col in zip(*fields, strict=True)]  # type: ignore[arg-type]
    except (RuntimeError, TypeError):
        return None
    n = int(columns[0].shape[0])
    if isinstance(first, Tensor):
        return columns[0], n
    if isinstance(first, Mapping):
        return dict(zip(first, columns, strict=True)), n
    return type(first)(columns) if isinstance(first, list) else tuple(columns), n


def _take(rows: Any, index: Tensor) -> Any:
    if isinstance(rows, Tensor):
        return rows[index]
    if isinstance(rows, Mapping):
        return {k: v[index] for k, v in rows.items()}
    taken = [v[index] for v in rows]
    return taken if isinstance(rows, list) else tuple(taken)
