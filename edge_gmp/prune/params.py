"""Which parameters are prunable, and holding masks on a model through training."""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from edge_gmp.errors import ConfigError

# Conv/Linear weights (ndim >= 2) and FastGRNN's W/U factors; biases, norms and scalars never.
DEFAULT_INCLUDE = ("*",)
_OPTIMIZER_STATE_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def prunable_parameters(model: nn.Module, include: Iterable[str] = DEFAULT_INCLUDE,
                        exclude: Iterable[str] = ()) -> dict[str, nn.Parameter]:
    """Weight matrices/kernels (ndim >= 2) whose names match ``include`` and none of ``exclude`` (fnmatch)."""
    include, exclude = tuple(include), tuple(exclude)
    selected = {
        name: p for name, p in model.named_parameters()
        if p.ndim >= 2
        and any(fnmatch.fnmatchcase(name, pat) for pat in include)
        and not any(fnmatch.fnmatchcase(name, pat) for pat in exclude)
    }
    if not selected:
        raise ConfigError(f"no prunable weights match include={list(include)} exclude={list(exclude)}")
    return selected


def batchnorm_scales(model: nn.Module, names: Iterable[str]) -> dict[str, Tensor]:
    """For each named weight whose module is directly followed (next sibling) by a BatchNorm over its output
    channels: that norm's per-channel |gamma| / sqrt(running_var + eps), the factor folding the norm into the
    weight multiplies each output channel by (as the TFLite export does). Other weights are left out."""
    wanted = set(names)
    scales = {}
    for prefix, parent in model.named_modules():
        children = list(parent.named_children())
        for (child_name, layer), (_, norm) in itertools.pairwise(children):
            name = f"{prefix}.{child_name}.weight" if prefix else f"{child_name}.weight"
            weight = getattr(layer, "weight", None)
            if (name in wanted and isinstance(weight, Tensor) and isinstance(norm, nn.modules.batchnorm._BatchNorm)
                    and norm.affine and norm.running_var is not None and norm.num_features == weight.shape[0]):
                with torch.no_grad():
                    scales[name] = (norm.weight.abs() / (norm.running_var + norm.eps).sqrt()).detach().clone()
    return scales


def apply_masks(params: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> None:
    """Zero the pruned weights in place."""
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)


def mask_gradients(params: Mapping[str, nn.Parameter], masks: Mapping[str, Tensor]) -> None:
    for name, mask in masks.items():
        grad = params[name].grad
        if grad is not None:
            grad.mul_(mask)


def mask_optimizer_state(optimizer: torch.optim.Optimizer, params: Mapping[str, nn.Parameter],
                         masks: Mapping[str, Tensor]) -> None:
    """Zero momentum / Adam moments of pruned weights so they cannot push them back."""
    for name, mask in masks.items():
        state = optimizer.state.get(params[name], {})
        for key in _OPTIMIZER_STATE_KEYS:
            if key in state:
                state[key].mul_(mask)
