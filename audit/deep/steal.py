"""Steal the weight decay of any torch model from its released weights and training data.

SGD with (coupled) weight decay ``wd`` minimises ``L(w) + wd/2 · ‖w‖²`` over
the decayed parameters, ``L`` the mean training loss. At a stationary point
``∇L(w*) + wd · w* = 0``: one equation per decayed coordinate, one unknown.
:func:`steal_weight_decay` sums the loss gradient over the batches the
attacker knows, at the released weights, in train mode, and solves it:

* per parameter group (one module's parameters): its own estimate, the cosine
  between its weights and its loss gradient (−1 at a stationary point), and
  whether it is scale-invariant (:mod:`audit.deep.scale`);
* over all decayed parameters: the paper's *plain* estimate;
* over the informative groups only (not scale-invariant, with a gradient):
  the audit's *estimate*, with a bootstrap interval (:mod:`audit.deep.combine`).

Memory: what one training step needs (the gradient sum accumulates in
``.grad``) plus a few numbers per batch and parameter tensor, whatever the
data size. Time: one forward and backward pass per batch plus two dot products
per parameter tensor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from audit.deep.combine import bootstrap_interval, pooled_estimate, solve_reduced
from audit.deep.groups import ParameterGroup, norm_probe, parameter_groups
from audit.deep.scale import DEFAULT_TOL, invariance_statistic, is_scale_invariant
from audit.errors import AuditOptionError, NoEquationError, NonFiniteError, UnsupportedModelError
from tuner.progress import Progress, or_null

if TYPE_CHECKING:
    import pandas as pd

    from audit.estimator import Solution

__all__ = ["ADAMW_EXPLANATION", "GROUP_COLUMNS", "WeightDecayEstimate", "steal_weight_decay"]

#: ``loss_fn(model, batch)``: the mean training loss of one batch, a scalar tensor.
LossFn = Callable[[nn.Module, Any], Tensor]

#: Dtypes whose dot products are taken as they are (others in float32).
_EXACT = (torch.float32, torch.float64)

#: Columns of :attr:`WeightDecayEstimate.groups`, in order.
GROUP_COLUMNS: tuple[str, ...] = (
    "group",
    "parameters",
    "estimate",
    "scale_invariant",
    "cosine",
    "invariance",
    "followed_by_norm",
    "informative",
    "weight_norm",
    "grad_norm",
    "note",
)

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


@dataclass(frozen=True)
class WeightDecayEstimate:
    """What the attacker learns about ``weight_decay`` (torch's SGD convention).

    Attributes:
        estimate: The audit's best estimate: least squares over the informative
            groups (``nan`` when no group is informative).
        plain_estimate: The paper's estimate over every decayed parameter.
        ci: Bootstrap interval of :attr:`estimate` (``None`` when there is
            nothing to resample); :attr:`ci_method` says over what.
        groups: One row per parameter group (columns :data:`GROUP_COLUMNS`).
        solution: Diagnostics of the informative solve (``None`` without one).
        plain_solution: Diagnostics of the plain solve.
        n_batches: Batches the gradient was summed over.
        n_decayed: Decayed scalars (equations of the plain estimate).
        n_informative: Decayed scalars in informative groups.
        confidence: Coverage of :attr:`ci`.
        ci_method: How :attr:`ci` was made, or why there is none.
        notes: Plain-language caveats.
        seconds: Wall time of the whole call.
    """

    estimate: float
    plain_estimate: float
    ci: tuple[float, float] | None
    groups: pd.DataFrame
    solution: Solution | None
    plain_solution: Solution
    n_batches: int
    n_decayed: int
    n_informative: int
    confidence: float = 0.95
    ci_method: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def pinned(self) -> bool | None:
        """Whether the interval is positive and within one decade (``None`` without one).

        ``False`` means the attacker's data and weights do not pin the value
        down: groups or batches disagree by more than a factor of ten.
        """
        return None if self.ci is None else _pinned(self.ci)

    @property
    def scale_invariant_groups(self) -> list[str]:
        """Names of the groups found scale-invariant."""
        return list(self.groups.loc[self.groups["scale_invariant"], "group"])

    def summary(self) -> dict[str, Any]:
        """Plain JSON-friendly values (estimates included: keep it private)."""
        return {
            "estimate": _finite_or_none(self.estimate),
            "plain_estimate": _finite_or_none(self.plain_estimate),
            "ci": list(self.ci) if self.ci is not None else None,
            "ci_method": self.ci_method,
            "pinned": self.pinned,
            "confidence": self.confidence,
            "n_batches": self.n_batches,
            "n_decayed": self.n_decayed,
            "n_informative": self.n_informative,
            "scale_invariant_groups": self.scale_invariant_groups,
            "relative_residual": (
                self.solution.relative_residual if self.solution is not None else None
            ),
            "plain_relative_residual": self.plain_solution.relative_residual,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


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
    invariance_tol: float = DEFAULT_TOL,
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> WeightDecayEstimate:
    """Estimate the SGD weight decay a model was trained with, from its weights and data.

    The model is left as it was: its parameters, buffers (BatchNorm running
    statistics), device and train/eval mode are restored; its ``.grad``
    fields are cleared.

    Args:
        model: The model with its released weights.
        loss_fn: ``loss_fn(model, batch)`` returns the mean training loss of one
            batch as a scalar tensor, as training computed it (no augmentation).
        batches: The batches the attacker knows. Tensors inside them (also in
            tuples, lists and dicts) are moved to the device. With BatchNorm in
            train mode the gradient depends on how images are grouped into
            batches: use training's batch size.
        decay_norm_and_bias: Training's rule for which parameters were decayed
            (:func:`tuner.train.params.split_decayed`).
        decayed: A predicate ``(name, parameter) -> bool`` overriding that rule.
        optimizer: ``sgd`` (coupled decay: the attack applies). ``adamw`` raises
            :class:`UnsupportedModelError` with :data:`ADAMW_EXPLANATION`.
        device: ``auto`` (CUDA when present), ``None`` (where the model is), or a device.
        amp: Run the forward pass under CUDA autocast (faster, less exact).
        train_mode: Evaluate the loss in train mode, as training did.
        invariance_tol: Threshold of the scale-invariance test (lowered to
            ``0.1/√n`` for groups of ``n`` parameters, see :mod:`audit.deep.scale`).
        confidence: Coverage of the bootstrap interval.
        n_bootstrap: Bootstrap replicates.
        seed: Seed of the bootstrap.
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
    """
    started = time.perf_counter()
    family = optimizer.lower()
    if family == "adamw":
        raise UnsupportedModelError(ADAMW_EXPLANATION)
    if family != "sgd":
        raise AuditOptionError(
            f"optimizer {optimizer!r} is not one the audit knows; use sgd or adamw"
        )
    if not 0 < confidence < 1:
        raise AuditOptionError(f"confidence {confidence} must lie strictly between 0 and 1")
    if invariance_tol < 0 or n_bootstrap < 1:
        raise AuditOptionError("invariance_tol must be >= 0 and n_bootstrap >= 1")
    groups = parameter_groups(model, decay_norm_and_bias=decay_norm_and_bias, decayed=decayed)
    if not groups:
        raise NoEquationError(
            "the model has no decayed parameter under this rule, so weight decay left no "
            "trace in it; check decay_norm_and_bias"
        )
    dev = _device(model, device)
    with _borrowed(model, dev, train_mode):
        stats = _gradient_pass(model, loss_fn, batches, groups, dev, amp, progress)
    return _estimate(
        groups, stats, invariance_tol, confidence, n_bootstrap, seed, train_mode, started
    )


# -- the gradient pass ------------------------------------------------------------------


@dataclass
class _PassStats:
    dots: np.ndarray  # (batches, params): wᵀg_i per parameter tensor and batch
    run_dots: np.ndarray  # (batches, params): wᵀG_i, G_i = g_1 + … + g_i
    run_sq: np.ndarray  # (batches, params): ‖G_i‖²
    weight_sq: np.ndarray  # (params,)
    nonzero: np.ndarray  # (params,) non-zero weights
    sizes: np.ndarray  # (params,)
    group_of: np.ndarray  # (params,)
    is_decayed: np.ndarray  # (params,)
    mean_grad_sq: np.ndarray  # (params,) ‖G_B / B‖²
    fed_norm: dict[str, bool]
    n_batches: int


def _device(model: nn.Module, device: str | torch.device | None) -> torch.device:
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
def _borrowed(model: nn.Module, device: torch.device, train_mode: bool) -> Iterator[None]:
    """Move the model and set its mode; afterwards restore device, mode and buffers, drop grads."""
    first = next(model.parameters(), None)
    home = first.device if first is not None else device
    was_training = model.training
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    model.to(device)
    model.train(train_mode)
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


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(_to_device(v, device) for v in batch)
    if isinstance(batch, list):
        return [_to_device(v, device) for v in batch]
    return batch


def _gradient_pass(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Any],
    groups: list[ParameterGroup],
    device: torch.device,
    amp: bool,
    progress: Progress | None,
) -> _PassStats:
    """One pass: backward accumulates the gradient sum in ``.grad`` (no extra copy).

    After batch ``i`` the only work besides forward and backward is two dot
    products per parameter tensor, ``wᵀG_i`` and ``‖G_i‖²`` on the running sum
    ``G_i``, kept on the device until the end (no synchronisation per batch).
    Per-batch ``wᵀg_i`` are their differences.
    """
    entries = [(gi, True, p) for gi, g in enumerate(groups) for _, p in g.decayed]
    entries += [(gi, False, p) for gi, g in enumerate(groups) for _, p in g.others]
    params = [p for _, _, p in entries]
    weights = [p.detach().reshape(-1) for p in params]
    with torch.no_grad():
        weight_sq = np.array([float(w.double() @ w.double()) for w in weights])
        nonzero = np.array([int(torch.count_nonzero(w)) for w in weights])
    for p in model.parameters():
        p.grad = None
    zero = torch.zeros((), dtype=torch.float32, device=device)
    per_batch: list[Tensor] = []
    fed: dict[str, bool] = {}
    bar = or_null(progress)
    total = len(batches) if hasattr(batches, "__len__") else None  # type: ignore[arg-type]
    bar.start("loss gradients", total=total)
    autocast = torch.autocast(device.type) if amp and device.type == "cuda" else nullcontext()
    try:
        for i, batch in enumerate(batches):
            batch = _to_device(batch, device)
            probe = norm_probe(model) if i == 0 else nullcontext(None)
            with probe as seen, autocast:
                loss = loss_fn(model, batch)
            if seen:
                fed.update(seen)
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise AuditOptionError(
                    "loss_fn must return the batch's mean loss as a scalar tensor"
                )
            if not bool(torch.isfinite(loss.detach()).all()):
                raise NonFiniteError(
                    f"the training loss is {float(loss.detach())} on batch {i + 1}; "
                    "check the weights and the data"
                )
            loss.reshape(()).float().backward()
            with torch.no_grad():
                row: list[Tensor] = []
                for p, w in zip(params, weights, strict=True):
                    if p.grad is None:
                        row += [zero, zero]
                    else:
                        g = p.grad.reshape(-1)
                        if g.dtype not in _EXACT:  # half precision: reduce in float32
                            g, w = g.float(), w.float()
                        row += [torch.dot(w, g), torch.dot(g, g)]
                per_batch.append(torch.stack(row))
            bar.advance(1, batch=i + 1)
    finally:
        bar.finish()
    n_batches = len(per_batch)
    if n_batches == 0:
        raise AuditOptionError("no batch to compute the loss gradient on; pass the training data")
    table = torch.stack(per_batch).double().cpu().numpy().reshape(n_batches, len(params), 2)
    if not np.all(np.isfinite(table)):
        raise NonFiniteError("the loss gradient holds NaN or infinity; check weights and data")
    run_dots, run_sq = table[:, :, 0], table[:, :, 1]
    dots = np.diff(run_dots, axis=0, prepend=0.0)
    return _PassStats(
        dots=dots,
        run_dots=run_dots,
        run_sq=run_sq,
        weight_sq=weight_sq,
        nonzero=nonzero,
        sizes=np.array([p.numel() for p in params]),
        group_of=np.array([gi for gi, _, _ in entries]),
        is_decayed=np.array([d for _, d, _ in entries], dtype=bool),
        mean_grad_sq=run_sq[-1] / n_batches**2,
        fed_norm=fed,
        n_batches=n_batches,
    )


# -- from the sums to the estimates -------------------------------------------------------


def _by_group(values: np.ndarray, group_of: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Sum ``values[..., j]`` over the parameters ``j`` of each group (where ``mask``)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros((*values.shape[:-1], n))
    for gi in range(n):
        sel = (group_of == gi) & mask
        out[..., gi] = values[..., sel].sum(axis=-1)
    return out


def _estimate(
    groups: list[ParameterGroup],
    s: _PassStats,
    tol: float,
    confidence: float,
    n_bootstrap: int,
    seed: int,
    train_mode: bool,
    started: float,
) -> WeightDecayEstimate:
    import pandas as pd

    n = len(groups)
    every = np.ones_like(s.is_decayed)
    dec = s.is_decayed
    # decayed parameters: the equation
    d_dots = _by_group(s.dots, s.group_of, dec, n)  # (batches, groups)
    d_wsq = _by_group(s.weight_sq, s.group_of, dec, n)
    d_bsq = _by_group(s.mean_grad_sq, s.group_of, dec, n)
    d_size = _by_group(s.sizes, s.group_of, dec, n).astype(int)
    d_nonzero = _by_group(s.nonzero, s.group_of, dec, n).astype(int)
    mean_dots = d_dots.mean(axis=0)
    # all of each module's parameters: the scale-invariance test
    a_dots = _by_group(s.run_dots, s.group_of, every, n)
    a_gsq = _by_group(s.run_sq, s.group_of, every, n)
    a_wsq = _by_group(s.weight_sq, s.group_of, every, n)
    invariance = invariance_statistic(a_dots, a_gsq, a_wsq)
    a_size = _by_group(s.sizes, s.group_of, every, n)
    numeric = is_scale_invariant(invariance, a_size, tol)
    fed = np.array([s.fed_norm.get(g.name, False) for g in groups], dtype=bool)
    invariant = numeric | fed
    unused = ~np.any(a_gsq > 0, axis=0)
    zero_weights = d_wsq <= 0
    informative = ~invariant & ~unused & ~zero_weights

    with np.errstate(divide="ignore", invalid="ignore"):
        estimates = np.where(d_wsq > 0, -mean_dots / np.where(d_wsq > 0, d_wsq, 1.0), np.nan)
        cosine = np.where((d_wsq > 0) & (d_bsq > 0), mean_dots / np.sqrt(d_wsq * d_bsq), np.nan)
    notes: list[str] = []
    rows = []
    for gi, group in enumerate(groups):
        note = ""
        if unused[gi]:
            note = "no loss gradient on the known data: left out"
        elif zero_weights[gi]:
            note = "all decayed weights are zero: left out"
        elif numeric[gi]:
            note = "scale-invariant: w'grad L = 0 on every batch, no signal; left out"
        elif fed[gi]:
            note = (
                f"feeds a normalisation layer: scale-invariant by design (max |cos| "
                f"{invariance[gi]:.1e}, the norm's eps at small weights); left out"
            )
        rows.append(
            {
                "group": group.name,
                "parameters": int(d_size[gi]),
                "estimate": float(estimates[gi]),
                "scale_invariant": bool(invariant[gi]),
                "cosine": float(cosine[gi]),
                "invariance": float(invariance[gi]),
                "followed_by_norm": bool(fed[gi]),
                "informative": bool(informative[gi]),
                "weight_norm": math.sqrt(float(d_wsq[gi])),
                "grad_norm": math.sqrt(float(d_bsq[gi])),
                "note": note,
            }
        )
    frame = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))

    if not np.any(d_wsq > 0):
        raise NoEquationError(
            "every decayed weight is zero, so the weights say nothing about weight decay"
        )
    plain = solve_reduced(
        float(d_wsq.sum()), float(mean_dots.sum()), float(d_bsq.sum()),
        n_equations=int(d_size.sum()), n_informative=int(d_nonzero.sum()),
    )  # fmt: skip
    plain_estimate = pooled_estimate(mean_dots, d_wsq)
    solution = None
    estimate = math.nan
    ci: tuple[float, float] | None = None
    ci_method = "no informative group, no interval"
    if np.any(informative):
        solution = solve_reduced(
            float(d_wsq[informative].sum()), float(mean_dots[informative].sum()),
            float(d_bsq[informative].sum()), n_equations=int(d_size[informative].sum()),
            n_informative=int(d_nonzero[informative].sum()),
        )  # fmt: skip
        estimate = pooled_estimate(mean_dots[informative], d_wsq[informative])
        ci, ci_method = bootstrap_interval(
            d_dots[:, informative], d_wsq[informative],
            confidence=confidence, n_resamples=n_bootstrap, seed=seed,
        )  # fmt: skip
    else:
        notes.append(
            "every decayed group is scale-invariant or unused: the weights give no estimate "
            "of weight decay through this equation"
        )
    broken = fed & ~numeric & ~unused
    if np.any(broken):
        notes.append(
            f"{int(broken.sum())} group(s) feed a normalisation layer but their gradient is not "
            "exactly orthogonal to their weights (the norm's eps matters once weight decay has "
            "shrunk them, or their output also goes elsewhere); they are treated as "
            "scale-invariant: what signal they carry comes from the norm's eps, not from the loss"
        )
    if np.any(invariant):
        share = d_wsq[invariant].sum() / d_wsq.sum()
        notes.append(
            f"{int(invariant.sum())} of {n} groups are scale-invariant ({share:.0%} of the "
            "squared weight norm): the plain estimate is pulled toward zero by them"
        )
    if math.isfinite(estimate) and estimate <= 0:
        notes.append(
            "the estimate is not positive: the weights are far from a stationary point of "
            "loss + weight decay (unconverged SGD), so the attack learns little"
        )
    if solution is not None and solution.relative_residual > 0.5:
        notes.append(
            f"relative residual {solution.relative_residual:.2f}: the loss gradient is mostly "
            "not along the weights, as with SGD stopped short of a stationary point; the "
            "groups' estimates disagree and the interval shows it"
        )
    if ci is not None and not _pinned(ci):
        notes.append(
            f"the {confidence:.0%} interval ({ci[0]:.2g} to {ci[1]:.2g}) "
            + ("reaches zero or below" if ci[0] <= 0 else "spans more than a decade")
            + ": from these weights the attacker cannot tell the estimate from noise, and an "
            "estimate close to the truth may be close by chance"
        )
    if not train_mode:
        notes.append("loss evaluated in eval mode: normalisation layers used stored statistics")
    return WeightDecayEstimate(
        estimate=float(estimate),
        plain_estimate=float(plain_estimate),
        ci=ci,
        groups=frame,
        solution=solution,
        plain_solution=plain,
        n_batches=s.n_batches,
        n_decayed=int(d_size.sum()),
        n_informative=int(d_size[informative].sum()),
        confidence=confidence,
        ci_method=ci_method,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )


def _pinned(ci: tuple[float, float]) -> bool:
    return ci[0] > 0 and ci[1] <= 10 * ci[0]


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
