"""Defences for a released network: round its weights, add noise, or rescale them.

Wang & Gong's defence rounds every released weight to ``k`` decimals; the other
knob is Gaussian noise of relative scale ``σ`` (each parameter tensor ``w``
gets ``σ · rms(w) · N(0, 1)``). Both act on the trainable parameters only:
buffers such as BatchNorm's running statistics are left as they are (rounding
a running variance to a few decimals can zero it and break the model, and the
attack does not use them).

The third, ``rescale:C``, costs nothing: it reparametrises the network without
changing a single output (:mod:`audit.deep.reparam`): every layer feeding a
normalisation layer is scaled by one factor, every channel through a ReLU
junction by another (producer × c, consumers ÷ c), factors log-uniform in
``[1/C, C]``, seeded; each rescaling is checked on a forward pass and left out
if it moves an output by more than 1e-5 (relative). It needs ``run``, a forward
pass on fixed inputs, to find the structure and check the outputs.

Specs are strings: ``none``, ``round:K`` (K an integer ≥ 0), ``noise:SIGMA``
(SIGMA > 0) and ``rescale[:C]`` (1 < C ≤ 1000, default 4), several joined by
commas (``round:3,round:2,noise:1e-3,rescale:4``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from audit.deep.reparam import MAX_RANGE, RescaleReport, rescale
from audit.errors import AuditOptionError

__all__ = ["DEFAULT_RESCALE", "Defence", "apply_defence", "parse_defences"]

#: The range ``C`` of ``rescale`` without one.
DEFAULT_RESCALE = 4.0


@dataclass(frozen=True)
class Defence:
    """One defence: ``kind`` ``none``, ``round``, ``noise`` or ``rescale``; ``level`` K, σ or C."""

    kind: str
    level: float = 0.0
    label: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The spec as written, e.g. ``round:3``, ``noise:1e-3`` or ``rescale:4``."""
        if self.label:
            return self.label
        if self.kind == "none":
            return "none"
        if self.kind == "round":
            return f"round:{int(self.level)}"
        if self.kind == "rescale":
            return f"rescale:{self.level:g}"
        return f"noise:{self.level:g}"

    @classmethod
    def parse(cls, spec: str) -> Defence:
        """Parse ``none``, ``round:K``, ``noise:SIGMA`` or ``rescale[:C]``.

        Raises:
            AuditOptionError: any other form, or a level out of range.
        """
        text = spec.strip().lower()
        if text == "none":
            return cls("none")
        if text == "rescale":
            text = f"rescale:{DEFAULT_RESCALE:g}"
        kind, sep, raw = text.partition(":")
        if not sep or kind not in ("round", "noise", "rescale"):
            raise AuditOptionError(
                f"defence {spec!r} is not none, rescale:C, round:K or noise:SIGMA "
                "(e.g. round:3, noise:1e-3, rescale:4)"
            )
        try:
            level = float(raw)
        except ValueError:
            raise AuditOptionError(f"defence {spec!r}: {raw!r} is not a number") from None
        if kind == "round" and (level != int(level) or not 0 <= level <= 12):
            raise AuditOptionError(f"defence {spec!r}: round to an integer 0..12 of decimals")
        if kind == "noise" and not (math.isfinite(level) and level > 0):
            raise AuditOptionError(f"defence {spec!r}: the noise scale must be a number > 0")
        if kind == "rescale" and not 1 < level <= MAX_RANGE:
            raise AuditOptionError(
                f"defence {spec!r}: the rescaling range C must lie in (1, {MAX_RANGE:g}] "
                "(factors are drawn in [1/C, C])"
            )
        label = f"round:{int(level)}" if kind == "round" else f"{kind}:{raw.strip()}"
        return cls(kind, level, label)


def parse_defences(specs: str | list[str] | tuple[str, ...] | None) -> list[Defence]:
    """Parse a comma-separated string (or a list of specs); duplicates dropped, order kept."""
    if specs is None:
        return []
    if not isinstance(specs, str | list | tuple):
        raise AuditOptionError(
            f"defences {specs!r}: give a comma-separated string or a list of specs"
        )
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    out: list[Defence] = []
    for item in items:
        if not isinstance(item, str):
            raise AuditOptionError(
                f"defence {item!r} is not text; give specs such as 'round:3' or 'noise:1e-3'"
            )
        if not item.strip():
            continue
        defence = Defence.parse(item)
        if defence not in out and defence.kind != "none":
            out.append(defence)
    return out


def apply_defence(
    model: nn.Module,
    defence: Defence,
    *,
    seed: int = 0,
    run: Callable[[nn.Module], Any] | None = None,
) -> RescaleReport | None:
    """Apply ``defence`` to ``model``'s trainable parameters, in place.

    ``rescale`` also needs ``run(model)``, a forward pass on fixed inputs
    (:func:`audit.deep.reparam.detector_probe` makes one for a detector), and
    returns its :class:`~audit.deep.reparam.RescaleReport`; the others return ``None``.

    Raises:
        AuditOptionError: ``rescale`` without ``run``.
    """
    if defence.kind == "none":
        return None
    if defence.kind == "rescale":
        if run is None:
            raise AuditOptionError(
                f"defence {defence.name}: rescaling needs a forward pass to check the outputs on"
            )
        return rescale(model, run, factor=defence.level, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if not param.requires_grad or not param.is_floating_point():
                continue
            if defence.kind == "round":
                param.copy_(torch.round(param, decimals=int(defence.level)))
            else:
                rms = param.detach().double().pow(2).mean().sqrt().item() if param.numel() else 0.0
                noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
                param.add_((defence.level * rms * noise).to(param.dtype).to(param.device))
    return None
