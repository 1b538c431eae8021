"""Which parameters are decayed, and the optimizer that decays them.

The audit needs the same answer as training ("which weights carry weight
decay?"), so both use :func:`split_decayed`.
"""

from __future__ import annotations

import torch
from torch import nn

from tuner.train.config import TrainConfig

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def norm_parameter_names(model: nn.Module) -> set[str]:
    """Names of the affine parameters of every normalisation layer."""
    names: set[str] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, _NORMS):
            for param_name, _ in module.named_parameters(recurse=False):
                names.add(f"{module_name}.{param_name}" if module_name else param_name)
    return names


def split_decayed(
    model: nn.Module, decay_norm_and_bias: bool
) -> tuple[list[tuple[str, nn.Parameter]], list[tuple[str, nn.Parameter]]]:
    """Split trainable parameters into (decayed, not decayed), each as (name, parameter)."""
    norms = norm_parameter_names(model)
    decayed: list[tuple[str, nn.Parameter]] = []
    plain: list[tuple[str, nn.Parameter]] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = name in norms or name.endswith(".bias") or param.ndim <= 1
        (plain if exempt and not decay_norm_and_bias else decayed).append((name, param))
    return decayed, plain


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config`` asks for, with weight decay only on the decayed group."""
    decayed, plain = split_decayed(model, config.decay_norm_and_bias)
    groups = [
        {"params": [p for _, p in decayed], "weight_decay": config.weight_decay},
        {"params": [p for _, p in plain], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, foreach=True
        )
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999), foreach=True)
