"""The training plan: phases by epoch and the learning rate by step, as small validated objects beside the
sparsity schedules (``edge_gmp.prune.schedule``)."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from edge_gmp.errors import ConfigError


class Phase(enum.Enum):
    DENSE = "dense"
    PRUNE = "prune"
    FINETUNE = "finetune"


@dataclass(frozen=True)
class CosineDecay:
    """``base`` at ``begin_step`` down to ``final`` at ``end_step`` along half a cosine, then ``final``."""

    base: float
    begin_step: int
    end_step: int
    final: float = 0.0

    def __post_init__(self) -> None:
        if not self.base > 0:
            raise ConfigError(f"learning rate must be > 0, got {self.base}")
        if self.begin_step < 0 or self.end_step <= self.begin_step:
            raise ConfigError(f"need 0 <= begin_step < end_step, got {self.begin_step}, {self.end_step}")
        if not 0 <= self.final <= self.base:
            raise ConfigError(f"the final learning rate must be in [0, {self.base}], got {self.final}")

    def __call__(self, step: int) -> float:
        progress = min(1.0, max(0.0, (step - self.begin_step) / (self.end_step - self.begin_step)))
        return self.final + (self.base - self.final) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class TrainPlan:
    """Dense epochs, then pruning epochs (gradual schedule) and fine-tuning epochs; one cosine decay of the
    training learning rate over the dense steps (to 0) and one of the pruning learning rate over the rest (to
    ``prune_final_lr``)."""

    steps_per_epoch: int
    dense_epochs: int
    prune_epochs: int
    finetune_epochs: int
    dense_lr: float
    prune_lr: float
    gradual: bool
    prune_final_lr: float = 0.0

    @property
    def total_epochs(self) -> int:
        return self.dense_epochs + self.prune_epochs + self.finetune_epochs

    @property
    def final_sparsity_from(self) -> int:
        """The first epoch (0-based) trained at the final sparsity: model selection looks only from here."""
        return self.dense_epochs + (self.prune_epochs if self.gradual else 0)

    def phase(self, epoch: int) -> Phase:
        if epoch < self.dense_epochs:
            return Phase.DENSE
        return Phase.PRUNE if epoch < self.final_sparsity_from else Phase.FINETUNE

    def lr(self, step: int) -> float:
        dense_steps = self.dense_epochs * self.steps_per_epoch
        if step < dense_steps:
            return CosineDecay(self.dense_lr, 0, dense_steps)(step)
        rest = max(1, (self.prune_epochs + self.finetune_epochs) * self.steps_per_epoch)
        return CosineDecay(self.prune_lr, dense_steps, dense_steps + rest, self.prune_final_lr)(step)
