"""The zero-cost defence: rescale a network without changing its outputs (:func:`rescale`).

Factors are drawn log-uniform in ``[1/C, C]``, seeded; each rescaling is
checked on the outputs (:func:`apply_checked`) and left out if it moves one by
more than ``tol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from audit.deep.reparam.structure import (
    Junction,
    NormFeed,
    Run,
    Structure,
    module_paths,
    output_change,
    traced_reference,
)
from audit.errors import AuditOptionError

__all__ = [
    "MAX_RANGE",
    "RescaleReport",
    "apply_checked",
    "apply_junction",
    "detector_probe",
    "rescale",
]

#: Largest factor range ``rescale`` accepts (float32 keeps ~7 digits).
MAX_RANGE = 1000.0


@dataclass
class RescaleReport:
    """What :func:`rescale` (or :func:`rebalance`) did.

    Attributes:
        junctions: Junctions rescaled (producer paths).
        norm_feeds: Layers feeding a norm rescaled.
        skipped: ``(module, reason)`` for candidates left out.
        channels: Activation channels rescaled.
        deviation: Largest relative change of an output, after all rescalings.
        factor: The range ``C`` (factors in ``[1/C, C]``); 0 for :func:`rebalance`.
    """

    junctions: list[str] = field(default_factory=list)
    norm_feeds: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    channels: int = 0
    deviation: float = 0.0
    factor: float = 0.0

    def describe(self) -> str:
        """One line for the audit's notes."""
        left = (
            f"; {len(self.skipped)} candidate(s) left out (outputs changed)" if self.skipped else ""
        )
        return (
            f"rescaled {len(self.junctions)} activation junction(s) ({self.channels} channels) "
            f"and {len(self.norm_feeds)} layer(s) feeding a norm; largest relative output "
            f"change {self.deviation:.1e}{left}"
        )


def _scale_rows(t: Tensor, c: Tensor) -> None:
    """``t[j, ...] *= c[j]`` in place (``c`` float64 on any device)."""
    t.mul_(c.to(t.device, t.dtype).reshape(-1, *([1] * (t.ndim - 1))))


def _scale_inputs(layer: nn.Module, c: Tensor) -> None:
    """Divide ``layer``'s input channel ``j`` by ``c[j]`` (grouped convolutions included)."""
    w = layer.weight
    if isinstance(layer, nn.Linear):
        w.mul_((1.0 / c).to(w.device, w.dtype)[None, :])
        return
    groups = int(layer.groups)
    out_ch, in_per = w.shape[0], w.shape[1]
    view = w.view(groups, out_ch // groups, in_per, *w.shape[2:])
    inv = (1.0 / c).to(w.device, w.dtype).reshape(groups, 1, in_per, *([1] * (w.ndim - 2)))
    view.mul_(inv)


def apply_junction(modules: dict[str, nn.Module], j: Junction, c: Tensor) -> None:
    """Producer's output channel ``j`` times ``c[j]``, every consumer's input channel ÷ ``c[j]``."""
    producer = modules[j.producer]
    with torch.no_grad():
        _scale_rows(producer.weight, c)
        if getattr(producer, "bias", None) is not None:
            _scale_rows(producer.bias, c)
        for name in j.consumers:
            _scale_inputs(modules[name], c)


def _apply_feed(modules: dict[str, nn.Module], f: NormFeed, c: float) -> None:
    layer = modules[f.layer]
    with torch.no_grad():
        layer.weight.mul_(c)
        if layer.bias is not None:
            layer.bias.mul_(c)
        for name in f.norms:
            norm = modules[name]
            mean, var = getattr(norm, "running_mean", None), getattr(norm, "running_var", None)
            if mean is not None:
                mean.mul_(c)
            if var is not None:
                eps = float(norm.eps)
                var.copy_(((var.double() + eps) * c * c - eps).to(var.dtype))


def _touched(modules: dict[str, nn.Module], item: Junction | NormFeed) -> list[Tensor]:
    names = (
        (item.producer, *item.consumers)
        if isinstance(item, Junction)
        else (item.layer, *item.norms)
    )
    out: list[Tensor] = []
    for name in names:
        m = modules[name]
        out += [p for p in m.parameters(recurse=False)]
        out += [b for b in m.buffers(recurse=False) if b.is_floating_point()]
    return out


def _smallest_feed_factor(modules: dict[str, nn.Module], f: NormFeed) -> float:
    """The smallest ``c`` that keeps every BatchNorm running variance of ``f`` non-negative."""
    low = 0.0
    for name in f.norms:
        norm = modules[name]
        var = getattr(norm, "running_var", None)
        if var is not None and var.numel():
            eps = float(norm.eps)
            low = max(low, math.sqrt(eps / (float(var.double().min().clamp_min(0)) + eps)))
    return low


def apply_checked(
    model: nn.Module,
    run: Run,
    structure: Structure,
    steps: list[tuple[Junction | NormFeed, Any]],
    reference: list[Tensor],
    tol: float,
    report: RescaleReport,
) -> None:
    """Apply ``steps`` together; if outputs move beyond ``tol``, keep only those that do not."""
    modules = module_paths(model)

    def apply(item: Junction | NormFeed, c: Any) -> None:
        if isinstance(item, Junction):
            apply_junction(modules, item, c)
        else:
            _apply_feed(modules, item, c)

    def restore(item: Junction | NormFeed, old: list[Tensor]) -> None:
        with torch.no_grad():
            for t, v in zip(_touched(modules, item), old, strict=True):
                t.copy_(v)

    def skip(k: int, moved: float) -> None:
        kept[k] = False
        item = steps[k][0]
        name = item.producer if isinstance(item, Junction) else item.layer
        report.skipped.append((name, f"outputs changed by {moved:.1e} (> {tol:g})"))

    saved = [[t.detach().clone() for t in _touched(modules, item)] for item, _ in steps]
    for item, c in steps:
        apply(item, c)
    worst = output_change(model, run, structure, reference)
    kept = [True] * len(steps)
    if worst > tol:
        # undo all (in reverse: steps may share modules); retry one by one when several
        for (item, _), old in reversed(list(zip(steps, saved, strict=True))):
            restore(item, old)
        if len(steps) == 1:
            skip(0, worst)
        else:
            for k, (item, c) in enumerate(steps):
                before = [t.detach().clone() for t in _touched(modules, item)]
                apply(item, c)
                moved = output_change(model, run, structure, reference)
                if moved > tol:
                    restore(item, before)
                    skip(k, moved)
        worst = output_change(model, run, structure, reference)
    for (item, _), keep in zip(steps, kept, strict=True):
        if not keep:
            continue
        if isinstance(item, Junction):
            report.junctions.append(item.producer)
            report.channels += item.channels
        else:
            report.norm_feeds.append(item.layer)
    report.deviation = worst


def rescale(
    model: nn.Module,
    run: Run,
    *,
    factor: float = 4.0,
    seed: int = 0,
    tol: float = 1e-5,
    junctions: bool = True,
    norm_feeds: bool = True,
) -> RescaleReport:
    """Rescale ``model`` in place without changing its outputs (the zero-cost defence).

    Args:
        model: Any torch module (a detector included).
        run: ``run(model)`` runs one forward pass on fixed inputs (eval mode is
            set around it) and returns the output; see :func:`detector_probe`.
        factor: ``C > 1``: factors drawn log-uniform in ``[1/C, C]``, one per
            junction channel and one per layer feeding a norm.
        seed: Seed of the factors.
        tol: Largest relative change of an output accepted.
        junctions: Rescale activation junctions.
        norm_feeds: Rescale layers feeding a norm.

    Returns:
        The :class:`RescaleReport`.

    Raises:
        AuditOptionError: ``factor`` not in ``(1, 1000]``.
    """
    if not (isinstance(factor, int | float) and 1 < factor <= MAX_RANGE):
        raise AuditOptionError(f"rescale factor {factor!r} must lie in (1, {MAX_RANGE:g}]")
    structure, reference = traced_reference(model, run)
    modules = module_paths(model)
    generator = torch.Generator().manual_seed(seed)
    span = math.log(factor)

    def draw(n: int) -> Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        return torch.exp((2 * u - 1) * span)

    steps: list[tuple[Junction | NormFeed, Any]] = []
    for f in structure.norm_feeds if norm_feeds else ():
        c = float(draw(1))
        steps.append((f, max(c, 1.01 * _smallest_feed_factor(modules, f))))
    for j in structure.junctions if junctions else ():
        steps.append((j, draw(j.channels)))
    report = RescaleReport(factor=float(factor))
    # exact ones first, all at once (one check); those moving a norm's eps, one at a time
    exact = [(item, c) for item, c in steps if _exact(modules, item)]
    apply_checked(model, run, structure, exact, reference, tol, report)
    for step in steps:
        if not _exact(modules, step[0]):
            apply_checked(model, run, structure, [step], reference, tol, report)
    return report


def _exact(modules: dict[str, nn.Module], item: Junction | NormFeed) -> bool:
    """Whether a rescaling preserves eval-mode outputs exactly (up to float rounding).

    Junctions do; so do layers feeding only norms with running statistics
    (their variance is compensated). Other norms see their ``eps`` move.
    """
    if isinstance(item, Junction):
        return True
    return all(getattr(modules[n], "running_var", None) is not None for n in item.norms)


def _as_float(image: Tensor) -> Tensor:
    return image if image.is_floating_point() else image.float().div_(255)


def detector_probe(dataset: Any, images: int = 2) -> Run:
    """A :data:`Run` for a torchvision detector: its forward pass on the first ``images`` images.

    ``dataset[i]`` must return ``(image, target)``, the image a ``[3, H, W]``
    tensor (uint8 images are scaled to ``[0, 1]`` as training scales them); the
    images are moved to the model's device at each call.
    """
    chosen = [_as_float(dataset[i][0]) for i in range(min(images, len(dataset)))]
    if not chosen:
        raise AuditOptionError("rescaling needs at least one image to check the outputs on")

    def run(model: nn.Module) -> Any:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
        return model([im.to(device) for im in chosen])

    return run
