"""Fitness: the number the tuner maximises, from a trial's metrics.

Default ``mAP`` (COCO AP@[.5:.95]); any weighted sum of metric names, such as
``0.1*mAP50 + 0.9*mAP``, may be given. Parsed, never evaluated as code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tuner.errors import ConfigError

_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*\*\s*)?([A-Za-z_]\w*)\s*")


@dataclass(frozen=True)
class Fitness:
    """A weighted sum of metrics, e.g. ``Fitness.parse("0.1*mAP50+0.9*mAP")``."""

    terms: tuple[tuple[float, str], ...] = ((1.0, "mAP"),)

    @classmethod
    def parse(cls, text: str) -> Fitness:
        """Parse ``[w*]metric (+|- [w*]metric)*``; raises :class:`ConfigError` if malformed."""
        terms: list[tuple[float, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TERM.match(text, pos)
            if not match or match.end() == pos or (terms and not match.group(1)):
                raise ConfigError(
                    f"fitness {text!r} is not a weighted sum of metrics; e.g. '0.1*mAP50+0.9*mAP'"
                )
            sign = -1.0 if match.group(1) == "-" else 1.0
            weight = float(match.group(2)) if match.group(2) else 1.0
            terms.append((sign * weight, match.group(3)))
            pos = match.end()
        if not terms:
            raise ConfigError("fitness is empty; e.g. 'mAP' or '0.1*mAP50+0.9*mAP'")
        return cls(tuple(terms))

    @property
    def metrics(self) -> list[str]:
        """Metric names the fitness needs."""
        return [name for _, name in self.terms]

    def __call__(self, metrics: Mapping[str, float]) -> float:
        missing = [m for m in self.metrics if m not in metrics]
        if missing:
            raise ConfigError(
                f"fitness needs metric {missing[0]!r}, which the trial did not report; "
                f"reported: {', '.join(metrics) or 'none'}"
            )
        return float(sum(w * metrics[m] for w, m in self.terms))

    def __str__(self) -> str:
        parts = [f"{w:g}*{m}" if w != 1.0 else m for w, m in self.terms]
        return " + ".join(parts).replace("+ -", "- ")
