"""The structure a rescaling needs: found by hooks during one forward pass (:func:`trace`).

A junction (:class:`Junction`) is a producer whose every call feeds exactly one
activation call whose output goes only into conv or linear layers that never
see another input; a norm feed (:class:`NormFeed`) a conv or linear layer whose
every call goes only into a norm that sees nothing else. The sinks, leaf
modules whose output no module consumes, and the tensors the model returns are
the outputs a rescaling must preserve (:func:`outputs`, :func:`deviation`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from audit.deep.groups import NORM_TYPES

__all__ = [
    "ACTIVATIONS",
    "Junction",
    "NormFeed",
    "Run",
    "Structure",
    "deviation",
    "module_paths",
    "output_change",
    "outputs",
    "trace",
    "traced_reference",
]

#: Positively homogeneous activations a rescaling may pass through.
ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU)
#: Layers whose output is linear in (weight, bias) and whose input channels are known.
LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
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


def module_paths(model: nn.Module) -> dict[str, nn.Module]:
    """Every module by its path (the model itself as ``model``)."""
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
    return calls, ndims, _run_hooked(model, run, handles)


def _run_hooked(model: nn.Module, run: Run, handles: list[Any]) -> Any:
    """``run(model)`` in eval mode without gradients; the hooks ``handles`` removed after."""
    try:
        with _Eval(model):
            return run(model)
    finally:
        for h in handles:
            h.remove()


def _channel_dim(module: nn.Module) -> int:
    return -1 if isinstance(module, nn.Linear | nn.LayerNorm) else 1


def _producer_channels(module: nn.Module) -> int | None:
    """Output channels a producer can scale one by one (``None``: not a producer)."""
    if isinstance(module, LAYERS):
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
    graph = _Graph(calls, ndims, _leaves(model))
    junctions: list[Junction] = []
    feeds: list[NormFeed] = []
    for name in graph.by_module:
        junction = graph.junction(name)
        if junction is not None:
            junctions.append(junction)
        feed = graph.norm_feed(name)
        if feed is not None:
            feeds.append(feed)
    return Structure(tuple(junctions), tuple(feeds), graph.sinks())


class _Graph:
    """The calls of one traced pass: who consumed each output, which calls each module made."""

    def __init__(self, calls: list[_Call], ndims: list[int], leaves: dict[str, nn.Module]) -> None:
        self.calls, self.ndims, self.leaves = calls, ndims, leaves
        self.consumers: dict[int, list[int]] = {}
        for i, call in enumerate(calls):
            for n in call.inputs:
                if n >= 0:
                    self.consumers.setdefault(n, []).append(i)
        self.by_module: dict[str, list[int]] = {}
        for i, call in enumerate(calls):
            self.by_module.setdefault(call.module, []).append(i)

    def first_input(self, i: int) -> int:
        return self.calls[i].inputs[0] if self.calls[i].inputs else -1

    def sole_input_is(self, i: int, node: int) -> bool:
        return bool(self.calls[i].inputs) and all(n == node for n in self.calls[i].inputs)

    def users(self, node: int | None) -> list[int]:
        """The calls that take ``node`` as an input."""
        return self.consumers.get(node, []) if node is not None else []

    def sole_consumer(self, i: int, kinds: tuple[type, ...]) -> int | None:
        """The one call that uses call ``i``'s output, when it is a module of ``kinds``."""
        used = self.users(self.calls[i].output)
        if len(used) != 1 or not isinstance(self.leaves[self.calls[used[0]].module], kinds):
            return None
        return used[0]

    def feeds(self, name: str, kinds: tuple[type, ...]) -> list[tuple[int, int]] | None:
        """``(output, consumer call)`` of each call of ``name``, when each output goes into
        exactly one call, of a module of ``kinds``; else ``None``."""
        fed = []
        for i in self.by_module[name]:
            x = self.calls[i].output
            user = self.sole_consumer(i, kinds)
            if x is None or user is None:
                return None
            fed.append((x, user))
        return fed

    def only_from(self, modules: set[str], outs: set[int]) -> bool:
        """Whether every call of ``modules`` takes its first input from ``outs``."""
        return all(self.first_input(j) in outs for m in modules for j in self.by_module[m])

    def junction(self, name: str) -> Junction | None:
        """``name`` as a junction: every call → one activation call → conv/linear consumers only."""
        module = self.leaves[name]
        channels = _producer_channels(module)
        if channels is None:
            return None
        fed = self.feeds(name, ACTIVATIONS)
        if fed is None:
            return None
        outs: set[int] = set()
        users: set[str] = set()
        for x, act in fed:
            y = self.calls[act].output
            after = self.users(y)
            if y is None or not after or not self.sole_input_is(act, x):
                return None
            for j in after:
                if not self._takes_channels(j, y, module, channels):
                    return None
                users.add(self.calls[j].module)
            outs.add(y)
        if not users or not self.only_from(users, outs):
            return None
        return Junction(name, tuple(sorted(users)), int(channels))

    def _takes_channels(self, j: int, y: int, producer: nn.Module, channels: int) -> bool:
        """Whether call ``j`` is a conv/linear layer fed only ``y``, channel for channel."""
        user = self.leaves[self.calls[j].module]
        same_dim = _channel_dim(user) % self.ndims[y] == _channel_dim(producer) % self.ndims[y]
        return (
            isinstance(user, LAYERS)
            and self.sole_input_is(j, y)
            and same_dim
            and _consumer_channels(user) == channels
        )

    def norm_feed(self, name: str) -> NormFeed | None:
        """``name`` as a norm feed: every call of a conv/linear layer goes into one norm only."""
        if not isinstance(self.leaves[name], LAYERS):
            return None
        fed = self.feeds(name, NORM_TYPES)
        if fed is None:
            return None
        norms = {self.calls[norm].module for _, norm in fed}
        outs = {x for x, _ in fed}
        if not norms or not self.only_from(norms, outs):
            return None
        return NormFeed(name, tuple(sorted(norms)))

    def sinks(self) -> tuple[str, ...]:
        """Modules whose output no module consumes: the network's raw outputs."""
        return tuple(
            sorted(
                {c.module for c in self.calls if c.output is not None and not self.users(c.output)}
            )
        )


def _returned(out: Any) -> list[Tensor]:
    """The tensors the model returned, when it returned tensors (not a detector's dicts)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, tuple | list) and all(isinstance(t, Tensor) for t in out):
        return list(out)
    return []


def outputs(model: nn.Module, run: Run, sinks: Sequence[str]) -> list[Tensor]:
    """The sinks' outputs and the returned tensors of one eval-mode ``run(model)``, copied."""
    leaves = _leaves(model)
    seen: list[Tensor] = []
    handles = [
        leaves[s].register_forward_hook(
            lambda _m, _a, o: seen.append(o.detach().clone()) if isinstance(o, Tensor) else None
        )
        for s in sinks
        if s in leaves
    ]
    out = _run_hooked(model, run, handles)
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


def traced_reference(model: nn.Module, run: Run) -> tuple[Structure, list[Tensor]]:
    """:func:`trace` ``model``, and the outputs a rescaling of it must preserve."""
    structure = trace(model, run)
    return structure, outputs(model, run, structure.sinks)


def output_change(
    model: nn.Module, run: Run, structure: Structure, reference: Sequence[Tensor]
) -> float:
    """How far ``model``'s outputs have moved from ``reference`` (:func:`deviation`)."""
    return deviation(reference, outputs(model, run, structure.sinks))
