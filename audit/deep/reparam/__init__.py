"""Function-preserving reparametrisations: the defence that costs no mAP.

Two rescalings change the weights an attacker sees without changing a single
output of the network:

* **A layer feeding a normalisation layer** (BatchNorm, GroupNorm, LayerNorm,
  InstanceNorm): its weight *and* bias times ``c > 0`` scale its output by
  ``c``, which the norm divides out. A BatchNorm's running mean is scaled by
  ``c`` and its running variance set to ``c²(σ² + eps) − eps``, so eval mode
  is preserved exactly; in train mode, and for the other norms, the output
  moves by the norm's ``eps`` only (relative ``≈ eps/σ²``). One ``c`` per layer.
* **A junction through a positively homogeneous activation** (ReLU,
  LeakyReLU: ``relu(c·x) = c·relu(x)`` for ``c > 0``): the producer's output
  channel ``j`` times ``c_j`` (a conv's or linear layer's weight row and bias,
  or a norm layer's affine scale and shift) and every consumer's input channel
  ``j`` divided by ``c_j``. One ``c_j`` per channel.

The structure is found by forward hooks during one pass (:func:`trace`): which
leaf module produced each tensor and which leaf modules consumed it. A junction
is used only when every call of the producer feeds exactly one activation call
and each activation output goes only into conv or linear layers that never see
another input; a norm feed only when every call of the layer goes only into a
norm that sees nothing else. What hooks cannot see (``F.relu``, additions,
concatenations) is caught by checking the outputs: after rescaling, the raw
outputs of the network (every leaf module whose output no module consumes,
e.g. a detector's prediction convs, and the tensors the model returns) must
equal the originals to ``tol`` (default ``1e-5``) relative to their largest
magnitude; a rescaling that fails is left out (tried one by one when the whole
set fails).

:func:`rescale` is the defence: factors log-uniform in ``[1/C, C]``, seeded.
:func:`rebalance` is the adaptive attacker who undoes it: at a stationary point
of ``L + wd/2·‖w‖²`` the loss is invariant along each junction's rescaling, so
weight decay's term must be stationary too: per channel
``c_j⁴ = ‖consumer_j‖² / ‖producer_j‖²`` over the decayed parameters (the
network is *balanced*). Iterated over all junctions, this restores the balanced
network whatever factors the defence drew. Where the producer side carries no
decay (a norm layer's affine parameters under hyperseal's default rule) there
is no optimum to return to; the attacker then assumes the channels' affine
scales were equal (``prior="geomean"``) or still at their initial value 1
(``prior="unit"``). Layers feeding a norm are left as they are: nothing pins their scale.
:func:`channel_median` is a second adaptive attacker, which needs no prior: the
median over channels of each junction consumer's own estimate, in which
symmetrically drawn factors cancel.

Modules: :mod:`.structure` (the trace and the output check), :mod:`.scaling`
(the defence), :mod:`.adaptive` (the attackers who undo it).
"""

from __future__ import annotations

from audit.deep.reparam.adaptive import PRIORS, channel_median, rebalance
from audit.deep.reparam.scaling import MAX_RANGE, RescaleReport, detector_probe, rescale
from audit.deep.reparam.structure import (
    ACTIVATIONS,
    Junction,
    NormFeed,
    Structure,
    deviation,
    trace,
)

__all__ = [
    "ACTIVATIONS",
    "MAX_RANGE",
    "PRIORS",
    "Junction",
    "NormFeed",
    "RescaleReport",
    "Structure",
    "channel_median",
    "detector_probe",
    "deviation",
    "rebalance",
    "rescale",
    "trace",
]
