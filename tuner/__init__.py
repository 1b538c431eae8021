"""hyperseal's tuner: datasets, detectors, training, evaluation, search and the vault."""

from __future__ import annotations

__version__ = "0.1.0"
