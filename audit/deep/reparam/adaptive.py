"""The adaptive attackers, who undo a rescaling: :func:`rebalance` and :func:`channel_median`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from audit.deep.gradients import to_device
from audit.deep.groups import NORM_TYPES
from audit.deep.reparam.scaling import RescaleReport, apply_checked, apply_junction
from audit.deep.reparam.structure import (
    Junction,
    Run,
    Structure,
    module_paths,
    output_change,
    trace,
    traced_reference,
)
from audit.errors import AuditOptionError
from tuner.train.params import split_decayed

__all__ = ["PRIORS", "channel_median", "rebalance"]

#: What :func:`rebalance` assumes of a junction whose producer carries no decay.
PRIORS: tuple[str, ...] = ("geomean", "unit", "none")


def _decayed_ids(
    model: nn.Module,
    decay_norm_and_bias: bool,
    decayed: Callable[[str, nn.Parameter], bool] | None,
) -> set[int]:
    if decayed is None:
        chosen, _ = split_decayed(model, decay_norm_and_bias)
        return {id(p) for _, p in chosen}
    return {id(p) for n, p in model.named_parameters() if p.requires_grad and decayed(n, p)}


def _row_sq(t: Tensor) -> Tensor:
    return t.detach().double().reshape(t.shape[0], -1).pow(2).sum(dim=1)


def _per_input(layer: nn.Module, t: Tensor) -> Tensor:
    """Sum a tensor shaped like ``layer.weight`` per input channel (grouped convolutions too)."""
    t = t.double()
    if isinstance(layer, nn.Linear):
        return t.sum(dim=0)
    groups = int(layer.groups)
    view = t.reshape(groups, t.shape[0] // groups, t.shape[1], -1)
    return view.sum(dim=(1, 3)).reshape(-1)


def _input_sq(layer: nn.Module) -> Tensor:
    """``‖W[:, j]‖²`` per input channel ``j`` (grouped convolutions included)."""
    return _per_input(layer, layer.weight.detach().pow(2))


def rebalance(
    model: nn.Module,
    run: Run,
    *,
    decay_norm_and_bias: bool = False,
    decayed: Callable[[str, nn.Parameter], bool] | None = None,
    prior: str = "geomean",
    tol: float = 1e-5,
    sweeps: int = 200,
) -> nn.Module:
    """The adaptive attacker: a copy of ``model`` rescaled back to a weight-decay optimum.

    Every junction :func:`trace` finds (and that preserves the outputs) is
    rebalanced per channel, ``c_j⁴ = ‖consumer_j‖² / ‖producer_j‖²`` over the
    decayed parameters (training's rule, as in the attack), sweeping until no
    factor moves by more than 1e-6 (at most ``sweeps`` sweeps). A producer
    without decayed parameters (a norm's affine scale and shift) has no such
    optimum; by ``prior``, its per-channel scales ``|γ_j|`` are set to their
    geometric mean (``geomean``: they were equal), to 1 (``unit``: their
    initial value), or left alone (``none``).

    Returns:
        The rebalanced copy; ``model`` is not changed. Its attribute
        ``rescale_report`` is the :class:`RescaleReport` of what was rebalanced.

    Raises:
        AuditOptionError: ``prior`` is not one of :data:`PRIORS`.
    """
    import copy

    if prior not in PRIORS:
        raise AuditOptionError(f"rebalance prior {prior!r}: choose {', '.join(PRIORS)}")
    out = copy.deepcopy(model)
    structure, reference = traced_reference(out, run)
    valid, probe = _output_preserving(out, run, structure, reference, tol)
    modules = module_paths(out)
    decayed_ids = _decayed_ids(out, decay_norm_and_bias, decayed)
    for _ in range(sweeps):
        moved = 0.0
        for j in valid:
            c = _balancing_factors(modules, j, decayed_ids, prior)
            if bool((c != 1).any()):
                apply_junction(modules, j, c)
                moved = max(moved, float(c.log().abs().max()))
        if moved < 1e-6:
            break
    report = RescaleReport(
        junctions=[j.producer for j in valid],
        channels=sum(j.channels for j in valid),
        skipped=probe.skipped,
    )
    report.deviation = output_change(out, run, structure, reference)
    out.rescale_report = report  # type: ignore[assignment]
    return out


def _output_preserving(
    model: nn.Module, run: Run, structure: Structure, reference: list[Tensor], tol: float
) -> tuple[list[Junction], RescaleReport]:
    """The junctions that preserve the outputs (checked on a copy with factors of 2 and 1/2)."""
    import copy

    probe = RescaleReport()
    trial = copy.deepcopy(model)
    alternating = [
        (j, torch.where(torch.arange(j.channels) % 2 == 0, 2.0, 0.5).double())
        for j in structure.junctions
    ]
    apply_checked(trial, run, structure, list(alternating), reference, tol, probe)
    return [j for j in structure.junctions if j.producer in probe.junctions], probe


def _balancing_factors(
    modules: dict[str, nn.Module], j: Junction, decayed_ids: set[int], prior: str
) -> Tensor:
    """Per channel, ``c⁴ = ‖consumer‖² / ‖producer‖²`` over the decayed parameters.

    A producer without decayed parameters (a norm's affine scale) gets its
    ``|γ_j|`` moved to the prior's level instead (``none``: left alone).
    """

    def is_decayed(p: Tensor | None) -> bool:
        return p is not None and id(p) in decayed_ids

    producer = modules[j.producer]
    p = torch.zeros(j.channels, dtype=torch.float64)
    for t in (producer.weight, getattr(producer, "bias", None)):
        if is_decayed(t):
            p += _row_sq(t).cpu()
    q = torch.zeros(j.channels, dtype=torch.float64)
    for name in j.consumers:
        if is_decayed(modules[name].weight):
            q += _input_sq(modules[name]).cpu()
    c = torch.ones(j.channels, dtype=torch.float64)
    both = (p > 0) & (q > 0)
    c[both] = (q[both] / p[both]).pow(0.25)
    if prior != "none" and not bool(p.any()) and isinstance(producer, NORM_TYPES):
        gamma = producer.weight.detach().double().abs().cpu()
        level = 1.0
        if prior == "geomean" and bool((gamma > 0).any()):
            level = float(gamma[gamma > 0].log().mean().exp())
        c = torch.where(gamma > 0, level / gamma, torch.ones_like(gamma))
    return c


def channel_median(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], Tensor],
    batches: Any,
    run: Run,
    *,
    decay_norm_and_bias: bool = False,
    decayed: Callable[[str, nn.Parameter], bool] | None = None,
    device: str | torch.device | None = None,
) -> float:
    """The per-channel attacker: the median over channels of each consumer's own estimate.

    For every decayed conv or linear layer that consumes a junction (and does
    not feed a norm), input channel ``j`` gives ``−w_jᵀ∇_j L / ‖w_j‖²``, which a
    rescaling multiplies by ``c_j²``. With factors drawn symmetrically in
    ``log c`` (as :func:`rescale` draws them), the median of the log estimates
    over many channels cancels them, whether or not the producer is decayed.
    The loss gradient is summed over ``batches`` in train mode, on a copy.

    Returns:
        The estimate, ``nan`` when no channel gives a positive one.
    """
    import copy

    net = copy.deepcopy(model)
    structure = trace(net, run)
    invariant = {f.layer for f in structure.norm_feeds}
    modules = module_paths(net)
    ids = _decayed_ids(net, decay_norm_and_bias, decayed)
    layers = {
        name: modules[name]
        for j in structure.junctions
        for name in j.consumers
        if name not in invariant and id(modules[name].weight) in ids
    }
    if not layers:
        return math.nan
    if device is not None:
        net.to(device)
    first = next(net.parameters())
    net.train()
    for p in net.parameters():
        p.grad = None
    for batch in batches:
        loss_fn(net, to_device(batch, first.device)).backward()
    logs: list[Tensor] = []
    for layer in layers.values():
        if layer.weight.grad is None:
            continue
        w = layer.weight.detach()
        num = -_per_input(layer, w * layer.weight.grad).cpu()
        den = _per_input(layer, w * w).cpu()
        ok = (den > 0) & (num > 0) & torch.isfinite(num)
        logs.append((num[ok] / den[ok]).log())
    found = torch.cat(logs) if logs else torch.zeros(0)
    return float(found.median().exp()) if found.numel() else math.nan
