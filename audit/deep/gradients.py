"""One pass of loss gradients over the attacker's batches, reduced to a few numbers.

The attack needs, per parameter tensor and batch ``i``, the dot products
``wᵀg_i`` and ``‖g_i‖²`` of the batch's loss gradient ``g_i`` with the
released weights ``w``, and for the scale-invariance test ``wᵀG_i`` and
``‖G_i‖²`` of the running sum ``G_i = g_1 + … + g_i``. Each backward pass
writes ``g_i`` into ``.grad`` (cleared before it); the running sum lives in
one buffer per tensor. The numbers stay on the device until the end (no
synchronisation per batch).

Memory: what one training step needs plus one gradient-sized buffer. Time: one
forward and backward pass per batch plus three dot products and one addition
per parameter tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from audit.deep.groups import ParameterGroup, norm_probe
from audit.errors import AuditOptionError, NonFiniteError
from tuner.progress import Progress, or_null

__all__ = ["LossFn", "PassStats", "borrowed", "gradient_pass", "pick_device", "to_device"]

#: ``loss_fn(model, batch)``: the mean training loss of one batch, a scalar tensor.
LossFn = Callable[[nn.Module, Any], Tensor]

#: Layers switched to eval mode for an eval pass.
_EVAL_IN_EVAL = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.modules.dropout._DropoutNd,
)

#: Dtypes whose dot products are taken as they are (others in float32).
_EXACT = (torch.float32, torch.float64)


@dataclass
class PassStats:
    """What one pass leaves, per batch and parameter tensor (tensors in ``entries`` order).

    Attributes:
        dots: ``wᵀg_i``, shape ``(batches, params)``.
        grad_sq: ``‖g_i‖²``, same shape.
        run_dots: ``wᵀG_i`` of the running sums, same shape.
        run_sq: ``‖G_i‖²``, same shape.
        weight_sq: ``‖w‖²`` per tensor.
        nonzero: Non-zero weights per tensor.
        sizes: Scalars per tensor.
        group_of: Index of each tensor's group.
        is_decayed: Whether each tensor carries weight decay.
        fed_norm: Module path → whether its output went straight into a norm
            layer normalising by the batch (seen on the first batch).
        n_batches: Batches in the pass.
    """

    dots: np.ndarray
    grad_sq: np.ndarray
    run_dots: np.ndarray
    run_sq: np.ndarray
    weight_sq: np.ndarray
    nonzero: np.ndarray
    sizes: np.ndarray
    group_of: np.ndarray
    is_decayed: np.ndarray
    fed_norm: dict[str, bool]
    n_batches: int


def pick_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """``auto`` (CUDA when present), ``None`` (where the model is), or the device named."""
    if device is None:
        first = next(model.parameters(), None)
        return first.device if first is not None else torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise AuditOptionError(f"unknown device {device!r}; use auto, cpu or cuda") from None


@contextmanager
def borrowed(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Move the model; afterwards restore device, mode and buffers, and drop grads."""
    first = next(model.parameters(), None)
    home = first.device if first is not None else device
    was_training = model.training
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    model.to(device)
    try:
        yield
    finally:
        with torch.no_grad():
            for name, buf in model.named_buffers():
                saved = buffers.get(name)
                if saved is not None:
                    buf.copy_(saved.to(buf.device))
        for param in model.parameters():
            param.grad = None
        model.to(home)
        model.train(was_training)


def to_device(batch: Any, device: torch.device) -> Any:
    """Tensors in ``batch`` (also inside dicts, tuples and lists) moved to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(to_device(v, device) for v in batch)
    if isinstance(batch, list):
        return [to_device(v, device) for v in batch]
    return batch


def gradient_pass(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    groups: list[ParameterGroup],
    device: torch.device,
    *,
    train_mode: bool = True,
    amp: bool = False,
    progress: Progress | None = None,
    label: str = "loss gradients",
) -> PassStats:
    """One pass over ``batches`` with the model in train mode, or in *eval* mode.

    *Eval* mode here means the model stays in train mode (a torchvision
    detector returns its losses only then) while every BatchNorm,
    InstanceNorm and dropout layer is switched to eval: normalisation by the
    running statistics, no dropout. BatchNorm running statistics change in
    train mode; the caller restores them (:func:`borrowed`).

    Raises:
        AuditOptionError: no batch, or a loss that is not a scalar tensor.
        NonFiniteError: a batch loss or gradient is NaN or infinite.
    """
    _set_mode(model, train_mode)
    tensors = _Tensors(groups)
    zero = torch.zeros((), dtype=torch.float32, device=device)
    per_batch: list[Tensor] = []
    fed: dict[str, bool] = {}
    bar = or_null(progress)
    total = len(batches) if hasattr(batches, "__len__") else None  # type: ignore[arg-type]
    bar.start(label, total=total)
    autocast = torch.autocast(device.type) if amp and device.type == "cuda" else nullcontext()
    try:
        for i, batch in enumerate(batches):
            tensors.clear_grads()
            batch = to_device(batch, device)
            probe = norm_probe(model) if i == 0 else nullcontext(None)
            with probe as seen, autocast:
                loss = loss_fn(model, batch)
            if seen:
                fed.update(seen)
            _checked(loss, i).reshape(()).float().backward()
            per_batch.append(tensors.dots(zero))
            bar.advance(1, batch=i + 1)
    finally:
        bar.finish()
        tensors.clear_grads()
    return tensors.stats(per_batch, fed)


def _set_mode(model: nn.Module, train_mode: bool) -> None:
    """Train mode; for an eval pass, norm and dropout layers in eval mode."""
    model.train()
    if not train_mode:
        for module in model.modules():
            if isinstance(module, _EVAL_IN_EVAL):
                module.eval()


def _checked(loss: Any, i: int) -> Tensor:
    """The loss of batch ``i`` if it is a finite scalar tensor."""
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise AuditOptionError("loss_fn must return the batch's mean loss as a scalar tensor")
    if not bool(torch.isfinite(loss.detach()).all()):
        raise NonFiniteError(
            f"the training loss is {float(loss.detach())} on batch {i + 1}; "
            "check the weights and the data"
        )
    return loss


class _Tensors:
    """The parameter tensors of one pass (decayed first), their weights and running sums."""

    def __init__(self, groups: list[ParameterGroup]) -> None:
        entries = [(gi, True, p) for gi, g in enumerate(groups) for _, p in g.decayed]
        entries += [(gi, False, p) for gi, g in enumerate(groups) for _, p in g.others]
        self.entries = entries
        self.params = [p for _, _, p in entries]
        self.weights = [p.detach().reshape(-1) for p in self.params]
        with torch.no_grad():
            self.weight_sq = np.array([float(w.double() @ w.double()) for w in self.weights])
            self.nonzero = np.array([int(torch.count_nonzero(w)) for w in self.weights])
            self.sums = [
                torch.zeros_like(w, dtype=torch.float32 if w.dtype not in _EXACT else w.dtype)
                for w in self.weights
            ]

    def clear_grads(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def dots(self, zero: Tensor) -> Tensor:
        """``wᵀg``, ``‖g‖²`` and ``‖G‖²`` of the running sum ``G``, per tensor, for one batch."""
        row: list[Tensor] = []
        for p, w, total_g in zip(self.params, self.weights, self.sums, strict=True):
            if p.grad is None:
                row += [zero, zero, zero]
                continue
            g = p.grad.reshape(-1)
            if g.dtype not in _EXACT:  # half precision: reduce in float32
                g, w = g.float(), w.float()
            total_g.add_(g)
            row += [torch.dot(w, g), torch.dot(g, g), torch.dot(total_g, total_g)]
        return torch.stack(row)

    def stats(self, per_batch: list[Tensor], fed: dict[str, bool]) -> PassStats:
        """The pass's :class:`PassStats` from its per-batch rows."""
        n_batches = len(per_batch)
        if n_batches == 0:
            raise AuditOptionError(
                "no batch to compute the loss gradient on; pass the training data"
            )
        table = torch.stack(per_batch).double().cpu().numpy()
        table = table.reshape(n_batches, len(self.params), 3)
        if not np.all(np.isfinite(table)):
            raise NonFiniteError("the loss gradient holds NaN or infinity; check weights and data")
        dots = table[:, :, 0]
        return PassStats(
            dots=dots,
            grad_sq=table[:, :, 1],
            run_dots=np.cumsum(dots, axis=0),
            run_sq=table[:, :, 2],
            weight_sq=self.weight_sq,
            nonzero=self.nonzero,
            sizes=np.array([p.numel() for p in self.params]),
            group_of=np.array([gi for gi, _, _ in self.entries]),
            is_decayed=np.array([d for _, d, _ in self.entries], dtype=bool),
            fed_norm=fed,
            n_batches=n_batches,
        )
