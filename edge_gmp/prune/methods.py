"""Mask rules that Global MP is compared with, all pure (weights in, keep-masks out) and all pruning exactly
``round(sparsity * N)`` weights, so a comparison differs only in *which* weights go.

- ``gmp``: Global Magnitude Pruning, one threshold over |w| (Gupta et al.), Minimum-Threshold floors.
- ``uniform``: layer-wise magnitude pruning, every layer at the target sparsity (largest-remainder rounding
  so the total is still exact). No floor: each layer's share is fixed by construction.
- ``random``: unstructured random pruning, a fixed seeded score per weight ranked globally (so gradual
  pruning removes nested sets, as magnitude pruning does).
- ``lamp``: LAMP (Lee et al., ICLR 2021), layer-adaptive magnitude scores ranked globally.
- ``snip``: SNIP connection sensitivity (Lee et al., ICLR 2019), |w * dL/dw| on a training batch, ranked
  globally: a data-driven rule, given the model, a batch and its gradients through :class:`MaskContext`.
- ``gmp-folded``: Global MP ranking the weights as the device runs them, each output channel multiplied by the
  factor that folds the BatchNorm after it into the weight (|gamma| / sqrt(var + eps)); the same floors.

Each rule owns its floor policy (``uses_floor``): Global MP (both variants) and SNIP honour the Minimum-Threshold
floor; the layer-wise rule needs none (every layer keeps its share by construction); random and LAMP run as published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from edge_gmp.errors import ConfigError
from edge_gmp.prune.masks import (
    DEFAULT_FLOOR,
    NO_FLOOR,
    MinimumThreshold,
    check_feasible,
    global_magnitude_masks,
    global_masks,
    lowest_k,
)


def lamp_scores(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """LAMP score of each weight: w_u^2 / sum of w_v^2 over the weights v of its layer that are not smaller
    (in the layer's ascending order of |w|, ties by position). The largest weight of every layer scores 1,
    so a global ranking never empties a layer while any layer has a weight scoring below 1."""
    scores = {}
    for name, w in weights.items():
        squared = w.detach().flatten().double().cpu() ** 2
        order = torch.sort(squared, stable=True).indices
        ascending = squared[order]
        from_here = torch.flip(torch.cumsum(torch.flip(ascending, [0]), 0), [0])
        ratio = torch.where(from_here > 0, ascending / from_here.clamp_min(torch.finfo(torch.float64).tiny),
                            torch.zeros_like(ascending))
        score = torch.empty_like(ratio)
        score[order] = ratio
        scores[name] = score.reshape(w.shape)
    return scores


def random_scores(weights: Mapping[str, Tensor], seed: int) -> dict[str, Tensor]:
    """A fixed uniform random score per weight from ``seed`` (and the layer's position), independent of values."""
    scores = {}
    for i, (name, w) in enumerate(weights.items()):
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + i)
        scores[name] = torch.rand(w.shape, generator=generator, dtype=torch.float64)
    return scores


def folded_magnitudes(weights: Mapping[str, Tensor], norm_scales: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """|w| with each output channel (dim 0) multiplied by its norm's folding factor, where the weight has one."""
    scores = {}
    for name, w in weights.items():
        score = w.detach().abs().double().cpu()
        if name in norm_scales:
            score = score * norm_scales[name].detach().double().cpu().reshape(-1, *([1] * (w.ndim - 1)))
        scores[name] = score
    return scores


def uniform_counts(sizes: Mapping[str, int], sparsity: float) -> dict[str, int]:
    """Weights to prune per layer for the same sparsity everywhere, summing exactly to round(s * N)."""
    check_feasible(sizes, sparsity, NO_FLOOR)
    total = round(float(sparsity) * sum(sizes.values()))
    exact = {n: float(sparsity) * size for n, size in sizes.items()}
    counts = {n: int(v) for n, v in exact.items()}
    position = {n: i for i, n in enumerate(sizes)}
    by_remainder = sorted(sizes, key=lambda n: (counts[n] - exact[n], position[n]))
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def uniform_magnitude_masks(weights: Mapping[str, Tensor], sparsity: float) -> dict[str, Tensor]:
    if not weights:
        raise ConfigError("no prunable weights: check the include/exclude patterns")
    counts = uniform_counts({n: w.numel() for n, w in weights.items()}, sparsity)
    return {n: ~lowest_k(w.detach().abs().flatten().float().cpu(), counts[n]).reshape(w.shape).to(w.device)
            for n, w in weights.items()}


@dataclass(frozen=True)
class MaskContext:
    """What a mask rule may use beyond the weights: the ``seed`` (random rule), for data-driven rules the
    loss gradients of the prunable weights on a training batch (``gradients``, computed by the trainer when
    the rule's ``needs_gradients`` is set), and per-output-channel BatchNorm folding factors (``norm_scales``,
    when ``needs_norm_scales`` is set; a weight without a norm after it has none)."""

    seed: int = 0
    gradients: Mapping[str, Tensor] = field(default_factory=dict)
    norm_scales: Mapping[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class PruningMethod:
    """A registered mask rule: ``name`` as configs spell it, ``label`` as tables and plots show it,
    ``description`` as a model card states it, whether it honours the Minimum-Threshold floor, and the rule."""

    name: str
    label: str
    description: str
    uses_floor: bool
    rule: Callable[[Mapping[str, Tensor], float, MinimumThreshold, MaskContext], dict[str, Tensor]]
    needs_gradients: bool = False
    needs_norm_scales: bool = False


def _gmp(w: Mapping[str, Tensor], s: float, floor: MinimumThreshold, ctx: MaskContext) -> dict[str, Tensor]:
    return global_magnitude_masks(w, s, floor)


def _uniform(w: Mapping[str, Tensor], s: float, floor: MinimumThreshold, ctx: MaskContext) -> dict[str, Tensor]:
    return uniform_magnitude_masks(w, s)


def _on_devices(masks: Mapping[str, Tensor], w: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {n: m.to(w[n].device) for n, m in masks.items()}


def _gmp_folded(w: Mapping[str, Tensor], s: float, floor: MinimumThreshold, ctx: MaskContext) -> dict[str, Tensor]:
    return _on_devices(global_masks(folded_magnitudes(w, ctx.norm_scales), s, floor), w)


def _random(w: Mapping[str, Tensor], s: float, floor: MinimumThreshold, ctx: MaskContext) -> dict[str, Tensor]:
    return _on_devices(global_masks(random_scores(w, ctx.seed), s, floor), w)


def _lamp(w: Mapping[str, Tensor], s: float, floor: MinimumThreshold, ctx: MaskContext) -> dict[str, Tensor]:
    return _on_devices(global_masks(lamp_scores(w), s, floor), w)


def _snip(w: Mapping[str, Tensor], s: float, floor: MinimumThreshold, ctx: MaskContext) -> dict[str, Tensor]:
    missing = [n for n in w if n not in ctx.gradients]
    if missing:
        raise ConfigError(f"snip needs the loss gradients of every prunable weight; missing: {missing}")
    scores = {n: (w[n].detach() * ctx.gradients[n].detach()).abs().double().cpu() for n in w}
    return _on_devices(global_masks(scores, s, floor), w)


METHODS: dict[str, PruningMethod] = {m.name: m for m in (
    PruningMethod("gmp", "Global MP + floors", "Global Magnitude Pruning (one global |w| threshold)", True, _gmp),
    PruningMethod("uniform", "uniform layer-wise MP",
                  "layer-wise magnitude pruning, the same sparsity in every layer", False, _uniform),
    PruningMethod("random", "random", "random unstructured pruning (seeded)", False, _random),
    PruningMethod("lamp", "LAMP", "LAMP: layer-adaptive magnitude scores, ranked globally (Lee et al., 2021)", False,
                  _lamp),
    PruningMethod("snip", "SNIP", "SNIP: |w * gradient| on a training batch, ranked globally (Lee et al., 2019)",
                  True, _snip, needs_gradients=True),
    PruningMethod("gmp-folded", "Global MP + floors, BatchNorm-folded",
                  "Global MP on BatchNorm-folded magnitudes (the weights the device runs)", True, _gmp_folded,
                  needs_norm_scales=True),
)}


@dataclass(frozen=True)
class StudyMethod:
    """A name the pruning study compares: a registered rule (``method``) with the prune settings that make it
    this entry (``settings``, config values of ``[prune]``), shown as ``label``."""

    name: str
    label: str
    settings: Mapping[str, object]


# Study variants of a registered rule, each listed in the study right after its rule: gmp-nofloor is Global MP
# with the floor set to 0, to show what the floor does.
VARIANTS: dict[str, StudyMethod] = {v.name: v for v in (
    StudyMethod("gmp-nofloor", "Global MP, no floor", {"method": "gmp", "floor_percent": 0.0, "floor_count": None}),
)}


def study_methods() -> dict[str, StudyMethod]:
    """Every name the study compares, in its order: each registered rule (as it is), each followed by its
    variants."""
    found: dict[str, StudyMethod] = {}
    for rule in METHODS.values():
        found[rule.name] = StudyMethod(rule.name, rule.label, {"method": rule.name})
        found.update({v.name: v for v in VARIANTS.values() if v.settings["method"] == rule.name})
    return found


def get_method(name: str) -> PruningMethod:
    if name not in METHODS:
        raise ConfigError(f"unknown pruning method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[name]


def compute_masks(method: str, weights: Mapping[str, Tensor], sparsity: float,
                  floor: MinimumThreshold = DEFAULT_FLOOR, seed: int = 0,
                  context: MaskContext | None = None) -> dict[str, Tensor]:
    """Keep-masks of ``method`` (see :data:`METHODS`) at ``sparsity``; ``floor`` applies where the rule's own
    policy says so, ``seed`` only to ``random``; ``context`` carries what data-driven rules need."""
    rule = get_method(method)
    return rule.rule(weights, sparsity, effective_floor(method, floor), context or MaskContext(seed=seed))


def effective_floor(method: str, floor: MinimumThreshold) -> MinimumThreshold:
    """The floor ``method`` actually applies (its own policy: none for layer-wise, random and LAMP)."""
    return floor if get_method(method).uses_floor else NO_FLOOR
