"""Steal the weight decay of any torch model from its released weights and training data.

SGD with (coupled) weight decay ``wd`` minimises ``L(w) + wd/2 · ‖w‖²`` over
the decayed parameters, ``L`` the mean training loss. At a stationary point
``∇L(w*) + wd · w* = 0``: one equation per decayed coordinate, one unknown.
:func:`steal_weight_decay` is where the weight decay is stolen. It runs a
portfolio of attackers on the same weights and data and reports each:

* views (:mod:`audit.deep.gradients`, :mod:`audit.deep.batching`): train mode
  at training's batch size averaged over random batchings, train mode on the
  whole set as one batch, eval mode with BatchNorm's running statistics;
* solves per view (:mod:`audit.deep.variants`): the informative groups pooled,
  the same balanced for free norm-layer partners, the best single group, and
  the paper's plain solve over every decayed parameter;
* the attacker's pick and its calibrated interval (:mod:`audit.deep.calibration`).

Memory: what one training step needs plus one gradient-sized buffer and a few
numbers per batch and parameter tensor, whatever the data size. Time: one
forward and backward pass per batch of each pass (two train batchings and, for
networks with BatchNorm, one eval pass and a full batch where the data fits).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.deep.batching import Batchings
from audit.deep.gradients import LossFn, borrowed, gradient_pass, pick_device
from audit.deep.groups import NORM_TYPES, ParameterGroup, parameter_groups
from audit.deep.outcome import GROUP_COLUMNS, VARIANT_COLUMNS, WeightDecayEstimate, assemble
from audit.deep.scale import DEFAULT_TOL
from audit.deep.variants import View, solve_view, view_of
from audit.errors import AuditOptionError, NoEquationError, UnsupportedModelError
from tuner.progress import Progress

__all__ = [
    "ADAMW_EXPLANATION",
    "GROUP_COLUMNS",
    "VARIANT_COLUMNS",
    "LossFn",
    "WeightDecayEstimate",
    "steal_weight_decay",
]

#: What the audit says instead of a number for a model trained with AdamW.
ADAMW_EXPLANATION = (
    "AdamW decays weights outside the gradient (decoupled decay): at its equilibrium "
    "m/(sqrt(v)+eps) = -wd*w, i.e. the loss gradient is proportional to -wd*w only after a "
    "per-coordinate division by the optimizer's second-moment state v, which is not released. "
    "The equation grad L + wd*w = 0 that SGD's coupled decay satisfies does not hold, so the "
    "weights and data give no estimate of weight_decay by this attack, and the audit reports "
    "none rather than a number that means nothing. Not measured here: what the weights reveal "
    "about AdamW by other means."
)


def steal_weight_decay(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    *,
    decay_norm_and_bias: bool = False,
    decayed: Callable[[str, nn.Parameter], bool] | None = None,
    optimizer: str = "sgd",
    device: str | torch.device | None = "auto",
    amp: bool = False,
    train_mode: bool = True,
    batchings: int = 2,
    portfolio: bool = True,
    invariance_tol: float = DEFAULT_TOL,
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> WeightDecayEstimate:
    """Estimate the SGD weight decay a model was trained with, from its weights and data.

    Runs the portfolio of attack variants (:mod:`audit.deep.variants`) and
    returns the attacker's pick (:mod:`audit.deep.calibration`) with every
    variant in :attr:`WeightDecayEstimate.variants`. The model is left as it
    was: its parameters, buffers (BatchNorm running statistics), device and
    train/eval mode are restored; its ``.grad`` fields are cleared.

    Args:
        model: The model with its released weights.
        loss_fn: ``loss_fn(model, batch)`` returns the mean training loss of one
            batch as a scalar tensor, as training computed it (no augmentation).
        batches: The batches the attacker knows, at training's batch size.
            Tensors inside them (also in tuples, lists and dicts) are moved to
            the device. Batches of tensors sharing their first dimension are
            regrouped at random for each batching (:mod:`audit.deep.batching`).
        decay_norm_and_bias: Training's rule for which parameters were decayed
            (:func:`tuner.train.params.split_decayed`).
        decayed: A predicate ``(name, parameter) -> bool`` overriding that rule.
        optimizer: ``sgd`` (coupled decay: the attack applies). ``adamw`` raises
            :class:`UnsupportedModelError` with :data:`ADAMW_EXPLANATION`.
        device: ``auto`` (CUDA when present), ``None`` (where the model is), or a device.
        amp: Run the forward pass under CUDA autocast (faster, less exact).
        train_mode: ``False`` evaluates the loss in eval mode only (one variant view).
        batchings: Random batchings averaged in train mode (when the batches
            can be regrouped).
        portfolio: ``False`` runs one train-mode batching only (the paper's
            attacker with the informative-group solve), without calibration.
        invariance_tol: Threshold of the scale-invariance test (lowered to
            ``0.1/√n`` for groups of ``n`` parameters, see :mod:`audit.deep.scale`).
        confidence: Coverage of the bootstrap intervals.
        n_bootstrap: Bootstrap replicates.
        seed: Seed of the batchings and the bootstrap.
        progress: Receives one step per batch.

    Returns:
        The :class:`WeightDecayEstimate`.

    Raises:
        UnsupportedModelError: ``optimizer`` is ``adamw`` (decoupled decay).
        AuditOptionError: no batch, or an option out of range.
        NoEquationError: no decayed parameter, or all decayed weights are zero.
        NonFiniteError: a batch loss or gradient is NaN or infinite.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(3, 1)
        >>> X, y = torch.randn(64, 3), torch.randn(64, 1)
        >>> def loss_fn(model, batch):
        ...     return torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        >>> res = steal_weight_decay(net, loss_fn, [(X, y)], device="cpu")
        >>> list(res.groups["group"])
        ['model']

    Long because of its signature and this docstring, one entry per option; the
    body reads as its steps.
    """
    started = time.perf_counter()
    _check(optimizer, confidence, invariance_tol, n_bootstrap, batchings)
    groups = _groups(model, decay_norm_and_bias, decayed)
    dev = pick_device(model, device)
    data = Batchings(batches, count=batchings if portfolio else 1, seed=seed)
    passes = _Passes(model, loss_fn, groups, dev, amp, invariance_tol, progress)
    with borrowed(model, dev):
        skipped = passes.run_all(data, train_mode=train_mode, portfolio=portfolio)
    primary = passes.views["train" if train_mode else "eval"]
    if not np.any(primary.weight_sq > 0):
        raise NoEquationError(
            "every decayed weight is zero, so the weights say nothing about weight decay"
        )
    rows = [
        row
        for view in passes.views.values()
        for row in solve_view(view, confidence=confidence, n_bootstrap=n_bootstrap, seed=seed)
    ]
    return assemble(
        groups=[g for g in groups if g.decayed],
        primary=primary,
        rows=rows,
        normalised=_normalised(model, primary, train_mode),
        portfolio=portfolio,
        data=data,
        skipped=skipped,
        confidence=confidence,
        started=started,
    )


def _groups(
    model: nn.Module, decay_norm_and_bias: bool, decayed: Callable[[str, nn.Parameter], bool] | None
) -> list[ParameterGroup]:
    """Every parameter group, decayed or not; refuses a model with no decayed one."""
    groups = parameter_groups(
        model, decay_norm_and_bias=decay_norm_and_bias, decayed=decayed, include_undecayed=True
    )
    if not any(g.decayed for g in groups):
        raise NoEquationError(
            "the model has no decayed parameter under this rule, so weight decay left no "
            "trace in it; check decay_norm_and_bias"
        )
    return groups


class _Passes:
    """The gradient passes of the attack, one :class:`View` per mode it looks in."""

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        groups: list[ParameterGroup],
        device: torch.device,
        amp: bool,
        invariance_tol: float,
        progress: Progress | None,
    ) -> None:
        self.model, self.loss_fn, self.groups, self.device = model, loss_fn, groups, device
        self.amp, self.invariance_tol, self.progress = amp, invariance_tol, progress
        self.names = [g.name for g in groups]
        self.has_decayed = np.array([bool(g.decayed) for g in groups])
        self.views: dict[str, View] = {}

    def run_all(self, data: Batchings, *, train_mode: bool, portfolio: bool) -> list[str]:
        """Train mode over every batching, then (the portfolio) full batch and eval mode.

        Returns:
            Why a view was skipped, one line each.
        """
        if not train_mode:
            self.run("eval", [data.batching(0)], train=False)
            return []
        self.run("train", [data.batching(k) for k in range(data.count)], train=True)
        if not portfolio:
            return []
        skipped = []
        full = data.full()
        if full is None:
            skipped.append("full batch: the data cannot be regrouped or is too large")
        elif not _batch_dependent(self.model):
            skipped.append("full batch: no BatchNorm, the same as train mode")
        else:
            self.run("full", [full], train=True)
        if _batch_dependent(self.model):
            self.run("eval", [_EveryOther(data.batching(0))], train=False)
        else:
            skipped.append("eval mode: no BatchNorm or dropout, the same as train mode")
        return skipped

    def run(self, name: str, passes: list[Iterable[Any]], *, train: bool) -> None:
        """One view: a gradient pass over each batching, in train or eval mode."""
        stats = [
            gradient_pass(
                self.model,
                self.loss_fn,
                batches,
                self.groups,
                self.device,
                train_mode=train,
                amp=self.amp,
                progress=self.progress,
                label=f"loss gradients ({name})",
            )
            for batches in passes
        ]
        self.views[name] = view_of(name, stats, self.names, self.has_decayed, self.invariance_tol)


def _normalised(model: nn.Module, primary: View, train_mode: bool) -> bool:
    """Whether the model normalises (scale-invariant groups found, or norm layers present)."""
    if train_mode:
        return bool(np.any(primary.numeric | primary.fed))
    # eval mode hides BatchNorm's invariance: judge by the layers the model has
    return any(isinstance(m, NORM_TYPES) for m in model.modules())


def _check(optimizer: str, confidence: float, tol: float, n_bootstrap: int, batchings: int) -> None:
    family = optimizer.lower()
    if family == "adamw":
        raise UnsupportedModelError(ADAMW_EXPLANATION)
    if family != "sgd":
        raise AuditOptionError(
            f"optimizer {optimizer!r} is not one the audit knows; use sgd or adamw"
        )
    if not 0 < confidence < 1:
        raise AuditOptionError(f"confidence {confidence} must lie strictly between 0 and 1")
    if tol < 0 or n_bootstrap < 1:
        raise AuditOptionError("invariance_tol must be >= 0 and n_bootstrap >= 1")
    if batchings < 1:
        raise AuditOptionError(f"batchings {batchings} must be at least 1")


class _EveryOther:
    """Every other batch (the first, third, …): the eval view's half of the data.

    In eval mode a batch's gradient is the mean of its images' gradients, so
    half the batches estimate the mean over all of them without bias, at half
    the cost; the bootstrap over batches carries the extra noise.
    """

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        n = len(self.batches) if hasattr(self.batches, "__len__") else 0  # type: ignore[arg-type]
        return (n + 1) // 2

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i, batch in enumerate(self.batches):
            if i % 2 == 0:
                yield batch


def _batch_dependent(model: nn.Module) -> bool:
    """Whether train and eval mode give different gradients (BatchNorm, dropout)."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
    return any(isinstance(m, kinds) for m in model.modules())
