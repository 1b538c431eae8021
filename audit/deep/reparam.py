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
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from audit.deep.groups import NORM_TYPES
from audit.errors import AuditOptionError
from tuner.train.params import split_decayed

__all__ = [
    "ACTIVATIONS",
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

#: Positively homogeneous activations a rescaling may pass through.
ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU)
#: Layers whose output is linear in (weight, bias) and whose input channels are known.
_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: Largest factor range ``rescale`` accepts (float32 keeps ~7 digits).
MAX_RANGE = 1000.0

#: What :func:`rebalance` assumes of a junction whose producer carries no decay.
PRIORS: tuple[str, ...] = ("geomean", "unit", "none")

#: ``run(model)``: one forward pass on fixed inputs, returning the model's output.
Run = Callable[[nn.Module], Any]


@dataclass(frozen=True)
class Junction:
    """A rescaling through an activation: ``producer``'s output channels × c, consumers' ÷ c."""

    producer: str
    consumers: tuple[str, ...]
    channels: int


@dataclass(frozen=True)
class NormFeed:
    """A conv or linear ``layer`` whose output only ever enters the norm layers ``norms``."""

    layer: str
    norms: tuple[str, ...]


@dataclass(frozen=True)
class Structure:
    """What :func:`trace` found: the candidate rescalings and the network's raw outputs."""

    junctions: tuple[Junction, ...]
    norm_feeds: tuple[NormFeed, ...]
    sinks: tuple[str, ...]


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


# -- the trace -----------------------------------------------------------------------------


@dataclass
class _Call:
    module: str
    inputs: list[int]
    output: int | None


def _leaves(model: nn.Module) -> dict[str, nn.Module]:
    return {
        (name or "model"): m
        for name, m in model.named_modules()
        if not any(True for _ in m.children())
    }


def _modules(model: nn.Module) -> dict[str, nn.Module]:
    return {(name or "model"): m for name, m in model.named_modules()}


class _Eval:
    """Eval mode and no gradients for the block; the previous mode restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.modes: dict[nn.Module, bool] = {}
        self.grad = torch.no_grad()

    def __enter__(self) -> None:
        self.modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        self.grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.grad.__exit__(*exc)
        for m, mode in self.modes.items():
            m.training = mode


def _record(model: nn.Module, run: Run) -> tuple[list[_Call], list[int], Any]:
    """Run once with hooks on every leaf module; return the calls, each node's ndim, the output."""
    leaves = _leaves(model)
    refs: dict[int, tuple[int, weakref.ref[Tensor]]] = {}
    ndims: list[int] = []
    calls: list[_Call] = []
    pending: dict[str, list[list[int]]] = {}

    def node_of(t: Tensor) -> int | None:
        seen = refs.get(id(t))
        return seen[0] if seen is not None and seen[1]() is t else None

    def pre(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, args: Any) -> None:
            inputs = [node_of(a) for a in args if isinstance(a, Tensor)]
            pending.setdefault(name, []).append([-1 if n is None else n for n in inputs])

        return hook

    def post(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _args: Any, output: Any) -> None:
            inputs = pending[name].pop() if pending.get(name) else []
            node = None
            if isinstance(output, Tensor):
                node = len(ndims)
                ndims.append(output.ndim)
                refs[id(output)] = (node, weakref.ref(output))
            calls.append(_Call(name, inputs, node))

        return hook

    handles = []
    for name, module in leaves.items():
        handles.append(module.register_forward_pre_hook(pre(name)))
        handles.append(module.register_forward_hook(post(name)))
    try:
        with _Eval(model):
            out = run(model)
    finally:
        for h in handles:
            h.remove()
    return calls, ndims, out


def _channel_dim(module: nn.Module) -> int:
    return -1 if isinstance(module, nn.Linear | nn.LayerNorm) else 1


def _producer_channels(module: nn.Module) -> int | None:
    """Output channels a producer can scale one by one (``None``: not a producer)."""
    if isinstance(module, _LAYERS):
        return int(module.weight.shape[0])
    if isinstance(module, NORM_TYPES) and getattr(module, "weight", None) is not None:
        if getattr(module, "bias", None) is None:
            return None
        if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) != 1:
            return None
        return int(module.weight.numel())
    return None


def _consumer_channels(module: nn.Module) -> int:
    return int(module.in_features if isinstance(module, nn.Linear) else module.in_channels)


def trace(model: nn.Module, run: Run) -> Structure:
    """Find the candidate rescalings of ``model`` by hooks during ``run(model)`` (eval mode)."""
    calls, ndims, _ = _record(model, run)
    leaves = _leaves(model)
    consumers: dict[int, list[int]] = {}
    for i, call in enumerate(calls):
        for n in call.inputs:
            if n >= 0:
                consumers.setdefault(n, []).append(i)
    by_module: dict[str, list[int]] = {}
    for i, call in enumerate(calls):
        by_module.setdefault(call.module, []).append(i)

    def first_input(i: int) -> int:
        return calls[i].inputs[0] if calls[i].inputs else -1

    def sole_input_is(i: int, node: int) -> bool:
        return bool(calls[i].inputs) and all(n == node for n in calls[i].inputs)

    def sole_consumer(i: int, kinds: tuple[type, ...]) -> int | None:
        """The one call that uses call ``i``'s output, when it is a module of ``kinds``."""
        x = calls[i].output
        used = consumers.get(x, []) if x is not None else []
        if len(used) != 1 or not isinstance(leaves[calls[used[0]].module], kinds):
            return None
        return used[0]

    junctions: list[Junction] = []
    feeds: list[NormFeed] = []
    for name, idx in by_module.items():
        module = leaves[name]
        # a junction: every call → one activation call → conv/linear consumers only
        channels = _producer_channels(module)
        outs: set[int] = set()
        users: set[str] = set()
        ok = channels is not None
        for i in idx if ok else []:
            x = calls[i].output
            act = sole_consumer(i, ACTIVATIONS)
            if x is None or act is None:
                ok = False
                break
            y = calls[act].output
            after = consumers.get(y, []) if y is not None else []
            if y is None or not after or not sole_input_is(act, x):
                ok = False
                break
            for j in after:
                user = leaves[calls[j].module]
                same_dim = _channel_dim(user) % ndims[y] == _channel_dim(module) % ndims[y]
                if (
                    not isinstance(user, _LAYERS)
                    or not sole_input_is(j, y)
                    or not same_dim
                    or _consumer_channels(user) != channels
                ):
                    ok = False
                    break
                users.add(calls[j].module)
            outs.add(y)
            if not ok:
                break
        if ok and users and all(first_input(j) in outs for u in users for j in by_module[u]):
            junctions.append(Junction(name, tuple(sorted(users)), int(channels or 0)))
        # a norm feed: every call of a conv/linear layer goes into one norm call only
        if not isinstance(module, _LAYERS):
            continue
        norms: set[str] = set()
        feeds_ok = True
        outs = set()
        for i in idx:
            x = calls[i].output
            norm = sole_consumer(i, NORM_TYPES)
            if x is None or norm is None:
                feeds_ok = False
                break
            norms.add(calls[norm].module)
            outs.add(x)
        if feeds_ok and norms and all(first_input(j) in outs for n in norms for j in by_module[n]):
            feeds.append(NormFeed(name, tuple(sorted(norms))))
    sinks = sorted(
        {c.module for c in calls if c.output is not None and not consumers.get(c.output)}
    )
    return Structure(tuple(junctions), tuple(feeds), tuple(sinks))


# -- outputs and their check ---------------------------------------------------------------


def _returned(out: Any) -> list[Tensor]:
    """The tensors the model returned, when it returned tensors (not a detector's dicts)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, tuple | list) and all(isinstance(t, Tensor) for t in out):
        return list(out)
    return []


def _outputs(model: nn.Module, run: Run, sinks: Sequence[str]) -> list[Tensor]:
    leaves = _leaves(model)
    seen: list[Tensor] = []
    handles = [
        leaves[s].register_forward_hook(
            lambda _m, _a, o: seen.append(o.detach().clone()) if isinstance(o, Tensor) else None
        )
        for s in sinks
        if s in leaves
    ]
    try:
        with _Eval(model):
            out = run(model)
    finally:
        for h in handles:
            h.remove()
    return seen + [t.detach().clone() for t in _returned(out)]


def deviation(reference: Sequence[Tensor], outputs: Sequence[Tensor]) -> float:
    """Largest ``max|a − b| / max|a|`` over the outputs (``inf`` when their shapes differ)."""
    if len(reference) != len(outputs):
        return math.inf
    worst = 0.0
    for a, b in zip(reference, outputs, strict=True):
        if a.shape != b.shape:
            return math.inf
        if not a.numel():
            continue
        a64, b64 = a.double(), b.double()
        scale = float(a64.abs().max())
        diff = float((a64 - b64).abs().max())
        if not math.isfinite(diff):
            return math.inf
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


# -- applying a rescaling ---------------------------------------------------------------------


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


def _apply_junction(modules: dict[str, nn.Module], j: Junction, c: Tensor) -> None:
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


def _apply_checked(
    model: nn.Module,
    run: Run,
    structure: Structure,
    steps: list[tuple[Junction | NormFeed, Any]],
    reference: list[Tensor],
    tol: float,
    report: RescaleReport,
) -> None:
    """Apply ``steps`` together; if outputs move beyond ``tol``, keep only those that do not."""
    modules = _modules(model)

    def apply(item: Junction | NormFeed, c: Any) -> None:
        if isinstance(item, Junction):
            _apply_junction(modules, item, c)
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
    worst = deviation(reference, _outputs(model, run, structure.sinks))
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
                moved = deviation(reference, _outputs(model, run, structure.sinks))
                if moved > tol:
                    restore(item, before)
                    skip(k, moved)
        worst = deviation(reference, _outputs(model, run, structure.sinks))
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
    structure = trace(model, run)
    reference = _outputs(model, run, structure.sinks)
    modules = _modules(model)
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
    _apply_checked(model, run, structure, exact, reference, tol, report)
    for step in steps:
        if not _exact(modules, step[0]):
            _apply_checked(model, run, structure, [step], reference, tol, report)
    return report


def _exact(modules: dict[str, nn.Module], item: Junction | NormFeed) -> bool:
    """Whether a rescaling preserves eval-mode outputs exactly (up to float rounding).

    Junctions do; so do layers feeding only norms with running statistics
    (their variance is compensated). Other norms see their ``eps`` move.
    """
    if isinstance(item, Junction):
        return True
    return all(getattr(modules[n], "running_var", None) is not None for n in item.norms)


# -- the adaptive attacker ----------------------------------------------------------------------


def _decayed_names(
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
    structure = trace(out, run)
    reference = _outputs(out, run, structure.sinks)
    # keep the junctions that preserve the outputs (checked with factors of 2 and 1/2)
    probe = RescaleReport()
    trial = copy.deepcopy(out)
    alternating = [
        (j, torch.where(torch.arange(j.channels) % 2 == 0, 2.0, 0.5).double())
        for j in structure.junctions
    ]
    _apply_checked(trial, run, structure, list(alternating), reference, tol, probe)
    valid = [j for j in structure.junctions if j.producer in probe.junctions]
    del trial
    modules = _modules(out)
    decayed_ids = _decayed_names(out, decay_norm_and_bias, decayed)

    def is_decayed(p: Tensor | None) -> bool:
        return p is not None and id(p) in decayed_ids

    for _ in range(sweeps):
        moved = 0.0
        for j in valid:
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
            if bool((c != 1).any()):
                _apply_junction(modules, j, c)
                moved = max(moved, float(c.log().abs().max()))
        if moved < 1e-6:
            break
    report = RescaleReport(
        junctions=[j.producer for j in valid],
        channels=sum(j.channels for j in valid),
        skipped=probe.skipped,
    )
    report.deviation = deviation(reference, _outputs(out, run, structure.sinks))
    out.rescale_report = report  # type: ignore[assignment]
    return out


def _moved(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _moved(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(_moved(v, device) for v in batch)
    return batch


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
    modules = _modules(net)
    ids = _decayed_names(net, decay_norm_and_bias, decayed)
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
        loss_fn(net, _moved(batch, first.device)).backward()
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


# -- inputs for detectors -------------------------------------------------------------------


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
