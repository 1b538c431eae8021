"""Defences for a released network: round its weights, or add noise to them.

Wang & Gong's defence rounds every released weight to ``k`` decimals; the other
knob is Gaussian noise of relative scale ``σ`` (each parameter tensor ``w``
gets ``σ · rms(w) · N(0, 1)``). Both act on the trainable parameters only:
buffers such as BatchNorm's running statistics are left as they are (rounding
a running variance to a few decimals can zero it and break the model, and the
attack does not use them).

Specs are strings: ``none``, ``round:K`` (K an integer ≥ 0) and ``noise:SIGMA``
(SIGMA > 0), several joined by commas (``round:3,round:2,noise:1e-3``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from audit.errors import AuditOptionError

__all__ = ["DEFAULT_DEFENCES", "Defence", "apply_defence", "parse_defences"]

#: What ``hyperseal audit model`` tries when ``--defend`` is not given.
DEFAULT_DEFENCES = "round:4,round:3,round:2,noise:1e-3,noise:1e-2"


@dataclass(frozen=True)
class Defence:
    """One defence: ``kind`` is ``none``, ``round`` or ``noise``; ``level`` is K or σ."""

    kind: str
    level: float = 0.0
    label: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The spec as written, e.g. ``round:3`` or ``noise:1e-3``."""
        if self.label:
            return self.label
        if self.kind == "none":
            return "none"
        if self.kind == "round":
            return f"round:{int(self.level)}"
        return f"noise:{self.level:g}"

    @classmethod
    def parse(cls, spec: str) -> Defence:
        """Parse ``none``, ``round:K`` or ``noise:SIGMA``.

        Raises:
            AuditOptionError: any other form, or a level out of range.
        """
        text = spec.strip().lower()
        if text == "none":
            return cls("none")
        kind, sep, raw = text.partition(":")
        if not sep or kind not in ("round", "noise"):
            raise AuditOptionError(
                f"defence {spec!r} is not none, round:K or noise:SIGMA (e.g. round:3, noise:1e-3)"
            )
        try:
            level = float(raw)
        except ValueError:
            raise AuditOptionError(f"defence {spec!r}: {raw!r} is not a number") from None
        if kind == "round" and (level != int(level) or not 0 <= level <= 12):
            raise AuditOptionError(f"defence {spec!r}: round to an integer 0..12 of decimals")
        if kind == "noise" and not (math.isfinite(level) and level > 0):
            raise AuditOptionError(f"defence {spec!r}: the noise scale must be a number > 0")
        label = f"round:{int(level)}" if kind == "round" else f"noise:{raw.strip()}"
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


def apply_defence(model: nn.Module, defence: Defence, *, seed: int = 0) -> None:
    """Apply ``defence`` to ``model``'s trainable parameters, in place."""
    if defence.kind == "none":
        return
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
