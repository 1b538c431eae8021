"""Audit II: how much of a deep network's training recipe its released weights leak.

Where things are (by file name, as the design asks):

* :mod:`audit.deep.steal`: where the weight decay is stolen, from any torch model
  (:func:`steal_weight_decay`): the portfolio of attackers and its result.
* :mod:`audit.deep.gradients`: one pass of loss gradients, reduced to dot products.
* :mod:`audit.deep.batching`: random batchings of the attacker's data.
* :mod:`audit.deep.variants`: views and solves (pooled, balanced, best group, plain);
  each solve is :func:`audit.estimator.pooled_estimate`.
* :mod:`audit.deep.calibration`: the attacker's pick and its calibrated interval.
* :mod:`audit.deep.outcome`: the :class:`WeightDecayEstimate` the attack returns.
* :mod:`audit.deep.equilibrium`: the second channel, ``wd / lr_eff`` from invariant norms.
* :mod:`audit.deep.testing`: small networks trained with a known weight decay.
* :mod:`audit.deep.groups`: parameter groups and the architectural norm probe.
* :mod:`audit.deep.scale`: the scale-invariance test.
* :mod:`audit.deep.combine`: the bootstrap interval of the pooled estimate.
* :mod:`audit.deep.verdict`: leaks / partial / resists.
* :mod:`audit.deep.defend`: rounding, noise and rescaling of network weights.
* :mod:`audit.deep.reparam`: the rescaling defence and the adaptive attackers.
* :mod:`audit.deep.pricing`: each defence re-attacked and its mAP re-evaluated.
* :mod:`audit.deep.release`: loading a released detector safely.
* :mod:`audit.deep.detector`: a detector's training loss and the known batches.
* :mod:`audit.deep.options`: :func:`audit_model`'s options, data matching the model.
* :mod:`audit.deep.recipe`: the true recipe, from the vault or given directly.
* :mod:`audit.deep.model_audit`: :func:`audit_model`, what ``hyperseal audit model`` runs.
* :mod:`audit.deep.results`: the :class:`DetectorAudit` and its results folder
  (``summary.json`` + sealed ``audit.hsv``).

Names are imported on first use, so importing this package does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuner._lazy import lazy_exports

if TYPE_CHECKING:
    from audit.deep.model_audit import audit_model
    from audit.deep.recipe import Recipe
    from audit.deep.results import (
        DetectorAudit,
        SavedDetectorAudit,
        load_detector_audit,
        save_detector_audit,
    )
    from audit.deep.steal import WeightDecayEstimate, steal_weight_decay

__all__ = [
    "DetectorAudit",
    "Recipe",
    "SavedDetectorAudit",
    "WeightDecayEstimate",
    "audit_model",
    "load_detector_audit",
    "save_detector_audit",
    "steal_weight_decay",
]

_LAZY = {
    "DetectorAudit": "audit.deep.results",
    "Recipe": "audit.deep.recipe",
    "audit_model": "audit.deep.model_audit",
    "SavedDetectorAudit": "audit.deep.results",
    "load_detector_audit": "audit.deep.results",
    "save_detector_audit": "audit.deep.results",
    "WeightDecayEstimate": "audit.deep.steal",
    "steal_weight_decay": "audit.deep.steal",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
