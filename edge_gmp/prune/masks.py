"""Global Magnitude Pruning with a Minimum-Threshold floor: weights in, boolean keep-masks out.

Gupta et al., "Is Complexity Required for Neural Network Pruning?" (arXiv 2209.14624).
Ties in |w| are broken by position (layer order, then flat index), so masks are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from edge_gmp.errors import ConfigError


@dataclass(frozen=True)
class MinimumThreshold:
    """Every layer keeps at least this many weights; layers smaller than the floor stay dense.

    ``percent`` is a percentage of all prunable weights (the reference code's ``-mt 0.05``);
    ``count`` is an absolute number of weights and wins when given.
    """

    percent: float = 0.05
    count: int | None = None

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 0:
            raise ConfigError(f"floor count must be >= 0, got {self.count}")
        if not 0.0 <= self.percent <= 100.0:
            raise ConfigError(f"floor percent must be in [0, 100], got {self.percent}")

    def weights_per_layer(self, total: int) -> int:
        if self.count is not None:
            return int(self.count)
        return math.ceil(self.percent / 100.0 * total)


NO_FLOOR = MinimumThreshold(percent=0.0)
DEFAULT_FLOOR = MinimumThreshold()  # the reference code's -mt 0.05 (%)


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= float(sparsity) < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity}")


def lowest_k(values: Tensor, k: int) -> Tensor:
    """Boolean mask of the k smallest entries of a 1-D tensor, ties broken by lower index."""
    selected = torch.zeros_like(values, dtype=torch.bool)
    if k <= 0:
        return selected
    if k >= values.numel():
        return ~selected
    threshold = torch.kthvalue(values, k).values
    selected = values < threshold
    ties = torch.nonzero(values == threshold).flatten()
    selected[ties[: k - int(selected.sum())]] = True
    return selected


def _as_float(values: Tensor) -> Tensor:
    """float32, or float64 when the scores are (LAMP's ratios); comparisons stay exact for float32 weights."""
    return values if values.dtype == torch.float64 else values.float()


def layer_floors(sizes: Mapping[str, int], floor: MinimumThreshold) -> dict[str, int]:
    per_layer = floor.weights_per_layer(sum(sizes.values()))
    return {name: min(n, per_layer) for name, n in sizes.items()}


def check_feasible(sizes: Mapping[str, int], sparsity: float, floor: MinimumThreshold) -> int:
    """Number of weights to prune for ``sparsity``; a clear error if the floors make it impossible."""
    _check_sparsity(sparsity)
    total = sum(sizes.values())
    to_prune = round(float(sparsity) * total)
    kept_min = sum(layer_floors(sizes, floor).values())
    if to_prune > total - kept_min:
        raise ConfigError(
            f"sparsity {sparsity} is infeasible with the floor: it needs {to_prune} of {total} weights "
            f"pruned, but the per-layer floors keep {kept_min}; lower the sparsity to at most "
            f"{(total - kept_min) / total:.4f} or lower the floor"
        )
    return to_prune


def global_masks(
    scores: Mapping[str, Tensor],
    sparsity: float,
    floor: MinimumThreshold = MinimumThreshold(),
) -> dict[str, Tensor]:
    """Keep-masks (True = kept) pruning exactly ``round(sparsity * N)`` of the N weights: the globally lowest
    ``scores`` (non-negative importances, one per weight), subject to every layer keeping its floor; what a
    floored layer cannot give is taken from the others, so the global target is met exactly.
    """
    if not scores:
        raise ConfigError("no prunable weights: check the include/exclude patterns")
    names = list(scores)
    flat = [_as_float(scores[n].detach().flatten().cpu()) for n in names]
    sizes = {n: v.numel() for n, v in zip(names, flat, strict=True)}
    to_prune = check_feasible(sizes, sparsity, floor)
    floors = layer_floors(sizes, floor)
    capacity = {n: sizes[n] - floors[n] for n in names}
    # Weights beyond a layer's capacity can never be pruned: give them +inf so the global pick skips them.
    eligible = []
    for n, values in zip(names, flat, strict=True):
        if capacity[n] < sizes[n]:
            values = torch.where(lowest_k(values, capacity[n]), values, torch.full_like(values, math.inf))
        eligible.append(values)
    pruned = lowest_k(torch.cat(eligible), to_prune)
    masks = {}
    for n, part in zip(names, torch.split(pruned, [sizes[n] for n in names]), strict=True):
        masks[n] = (~part).reshape(scores[n].shape).to(scores[n].device)
    return masks


def global_magnitude_masks(
    weights: Mapping[str, Tensor],
    sparsity: float,
    floor: MinimumThreshold = MinimumThreshold(),
) -> dict[str, Tensor]:
    """Global Magnitude Pruning: :func:`global_masks` over |w| (one global threshold, Minimum-Threshold floors)."""
    return global_masks({n: w.detach().abs() for n, w in weights.items()}, sparsity, floor)
