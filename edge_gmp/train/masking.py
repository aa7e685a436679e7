"""Hold pruning masks on a model during training: update on schedule, re-apply after every step."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from edge_gmp.prune import (
    MaskContext,
    MinimumThreshold,
    OneShot,
    PolynomialDecay,
    apply_masks,
    batchnorm_scales,
    compute_masks,
    get_method,
    mask_gradients,
    mask_optimizer_state,
    prunable_parameters,
)
from edge_gmp.train.distributed import mean_over_ranks

Gradients = Callable[[], Mapping[str, Tensor]]


class MaskedTraining:
    """Computes ``method``'s masks (default Global MP) at the schedule's update steps and keeps pruned weights
    (and their optimizer state) at 0."""

    def __init__(self, model: nn.Module, schedule: OneShot | PolynomialDecay, floor: MinimumThreshold,
                 include: tuple[str, ...] = ("*",), exclude: tuple[str, ...] = (), method: str = "gmp",
                 seed: int = 0) -> None:
        self.model = model
        self.params = prunable_parameters(model, include, exclude)
        self.schedule = schedule
        self.floor = floor
        self.method = method
        self.seed = seed
        self.masks: dict[str, Tensor] = {}
        self.sparsity = 0.0

    @property
    def needs_gradients(self) -> bool:
        return get_method(self.method).needs_gradients

    def update(self, step: int, gradients: Gradients | None = None) -> bool:
        """Recompute masks if ``step`` is an update step of the schedule; returns whether it did.
        ``gradients()`` gives the loss gradients of the prunable weights on the current batch, for rules that
        need them (called only then)."""
        if not self.schedule.is_update_step(step):
            return False
        self.sparsity = self.schedule(step)
        grads = dict(gradients()) if self.needs_gradients and gradients is not None else {}
        context = MaskContext(seed=self.seed, gradients=grads, norm_scales=self._norm_scales())
        self.masks = compute_masks(self.method, self.params, self.sparsity, self.floor, context=context)
        apply_masks(self.params, self.masks)
        return True

    def _norm_scales(self) -> dict[str, Tensor]:
        if not get_method(self.method).needs_norm_scales:
            return {}
        scales = batchnorm_scales(self.model, self.params)
        return {n: mean_over_ranks(t) for n, t in scales.items()}  # every rank's masks the same

    def before_optimizer_step(self) -> None:
        mask_gradients(self.params, self.masks)

    def after_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        apply_masks(self.params, self.masks)
        mask_optimizer_state(optimizer, self.params, self.masks)

    def state_dict(self) -> dict:
        return {"sparsity": self.sparsity, "masks": {k: v.clone() for k, v in self.masks.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.sparsity = float(state["sparsity"])
        self.masks = {k: v.bool().to(self.params[k].device) for k, v in state["masks"].items()}

    def cpu_masks(self) -> dict[str, Tensor]:
        """The masks on the CPU; every weight kept before the first pruning step (and in a dense-only run,
        sparsity 0, which never prunes: e.g. a teacher for ``train.distill_from``)."""
        if not self.masks:
            return {k: torch.ones(p.shape, dtype=torch.bool) for k, p in self.params.items()}
        return {k: v.detach().cpu().clone() for k, v in self.masks.items()}
