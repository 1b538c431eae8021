"""Parameter groups of a torch model, and which of them feed a normalisation layer.

A *group* is one module's own parameters (``recurse=False``): a layer's weight
with its bias, a normalisation layer's scale with its shift. Scale invariance
is a property of such a set (scaling a conv's weight *and* bias by ``c`` does
not change what a following GroupNorm outputs), so the audit tests and reports
it per module. The stationarity equation of a group uses only its *decayed*
parameters, chosen by the same rule as training
(:func:`tuner.train.params.split_decayed`).

:func:`norm_probe` is the cheap architectural check: forward hooks record
which module's output tensor is the very input of a BatchNorm, GroupNorm,
LayerNorm or InstanceNorm layer during one forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from tuner.train.params import split_decayed

__all__ = [
    "NORM_TYPES",
    "ParameterGroup",
    "norm_probe",
    "normalises_by_batch",
    "parameter_groups",
]

#: Normalisation layers that make the layer feeding them scale-invariant.
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
)


@dataclass
class ParameterGroup:
    """One module's trainable parameters, split as training decays them.

    Attributes:
        name: The module's path in the model (``model`` for the root module).
        decayed: ``(name, parameter)`` pairs carrying weight decay.
        others: The module's other trainable parameters (not decayed).
        followed_by_norm: Whether the module's output was seen going straight
            into a normalisation layer (``None`` until a probe ran).
    """

    name: str
    decayed: list[tuple[str, nn.Parameter]] = field(default_factory=list)
    others: list[tuple[str, nn.Parameter]] = field(default_factory=list)
    followed_by_norm: bool | None = None

    @property
    def all(self) -> list[tuple[str, nn.Parameter]]:
        """Every trainable parameter of the module (decayed first)."""
        return [*self.decayed, *self.others]

    @property
    def n_decayed(self) -> int:
        """Number of decayed scalars."""
        return sum(p.numel() for _, p in self.decayed)


def _module_of(param_name: str) -> str:
    module, _, _ = param_name.rpartition(".")
    return module or "model"


def parameter_groups(
    model: nn.Module,
    *,
    decay_norm_and_bias: bool = False,
    decayed: Callable[[str, nn.Parameter], bool] | None = None,
    include_undecayed: bool = False,
) -> list[ParameterGroup]:
    """The model's parameter groups that hold at least one decayed parameter.

    Args:
        model: Any torch module.
        decay_norm_and_bias: Training's rule: whether norm weights and biases
            were decayed too (hyperseal's ``TrainConfig.decay_norm_and_bias``).
        decayed: A predicate ``(name, parameter) -> bool`` that overrides the
            rule, for models trained with another parameter split.
        include_undecayed: Also return groups without a decayed parameter
            (a normalisation layer's affine scale and shift, by default).

    Returns:
        Groups in the order of ``model.named_parameters()``.
    """
    if decayed is None:
        chosen, _ = split_decayed(model, decay_norm_and_bias)
        names = {n for n, _ in chosen}
    else:
        names = {n for n, p in model.named_parameters() if p.requires_grad and decayed(n, p)}
    groups: dict[str, ParameterGroup] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        group = groups.setdefault(_module_of(name), ParameterGroup(_module_of(name)))
        (group.decayed if name in names else group.others).append((name, param))
    return [g for g in groups.values() if g.decayed or include_undecayed]


def normalises_by_batch(module: nn.Module) -> bool:
    """Whether ``module`` normalises with statistics of its current input.

    GroupNorm, LayerNorm and InstanceNorm always do; BatchNorm only in train
    mode (or without running statistics). In eval mode BatchNorm applies a
    fixed affine map and the layer before it is not scale-invariant.
    """
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module.training or not module.track_running_stats
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return module.training or not module.track_running_stats
    return isinstance(module, NORM_TYPES)


@contextmanager
def norm_probe(model: nn.Module) -> Iterator[dict[str, bool]]:
    """Record, during the forward passes inside the block, which modules feed a norm layer.

    Yields a dict, filled while the block runs: module path → ``True`` for
    every module whose output tensor was the very input of a normalisation
    layer that normalises by the current batch (:func:`normalises_by_batch`).
    Hooks are removed on exit and the tensors seen are let go.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
        >>> import torch
        >>> with norm_probe(net) as fed:
        ...     _ = net(torch.randn(5, 3))
        >>> sorted(fed)
        ['0']
    """
    outputs: dict[int, tuple[str, Tensor]] = {}
    fed: dict[str, bool] = {}
    handles: list[Any] = []

    def remember(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if isinstance(output, Tensor):
                outputs[id(output)] = (name, output)

        return hook

    def check(module: nn.Module, args: Any) -> None:
        if not normalises_by_batch(module):
            return
        if args and isinstance(args[0], Tensor):
            seen = outputs.get(id(args[0]))
            if seen is not None and seen[1] is args[0]:
                fed[seen[0]] = True

    for name, module in model.named_modules():
        if isinstance(module, NORM_TYPES):
            handles.append(module.register_forward_pre_hook(check))
        elif any(True for _ in module.parameters(recurse=False)):
            handles.append(module.register_forward_hook(remember(name or "model")))
    try:
        yield fed
    finally:
        for handle in handles:
            handle.remove()
        outputs.clear()
