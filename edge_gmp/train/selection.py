"""Which weights a run returns, chosen on validation at the final sparsity (the test set is never looked at).

- ``best``: the epoch with the best validation accuracy (the first of equals);
- ``average``: the uniform average of the weights after every epoch at the final sparsity (the masks are
  fixed there, so pruned weights stay exactly zero), with BatchNorm statistics recomputed on the training
  data. One lucky epoch cannot decide it, and averaging flattens the epoch-to-epoch noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from edge_gmp.config import SELECTIONS
from edge_gmp.errors import ConfigError
from edge_gmp.train.checkpoint import cpu_state


@dataclass
class Chosen:
    epoch: int  # 1-based epoch of the weights; for an average, the last epoch averaged
    val_accuracy: float
    state: dict[str, Tensor]
    masks: dict[str, Tensor]


class ModelSelection:
    def __init__(self, rule: str, from_epoch: int) -> None:
        if rule not in SELECTIONS:
            raise ConfigError(f"train.select must be one of {', '.join(SELECTIONS)}, got {rule!r}")
        self.rule, self.from_epoch = rule, from_epoch
        self.best: dict[str, Any] = {"epoch": -1, "val_accuracy": -1.0, "state": None, "masks": None}
        self.total: dict[str, Tensor] | None = None
        self.count = 0

    def offer(self, epoch: int, val_accuracy: float, model: nn.Module, masks: dict[str, Tensor]) -> None:
        """The weights after ``epoch`` (0-based) and their validation accuracy."""
        if epoch < self.from_epoch:
            return
        if self.rule == "best" and val_accuracy > self.best["val_accuracy"]:
            self.best = {"epoch": epoch + 1, "val_accuracy": val_accuracy, "state": cpu_state(model), "masks": masks}
        elif self.rule == "average":
            state = cpu_state(model)
            if self.total is None:
                self.total = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
            else:
                self.total = {k: self.total[k] + v.double() if v.is_floating_point() else v for k, v in state.items()}
            self.count += 1
            self.best = {"epoch": epoch + 1, "val_accuracy": float("nan"), "state": None, "masks": masks}

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "total": self.total, "count": self.count}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best, self.total, self.count = state["best"], state["total"], int(state["count"])

    def result(self, model: nn.Module, masks: dict[str, Tensor], x_train: Tensor, batch_size: int,
               val: tuple[Tensor, Tensor]) -> Chosen:
        """The chosen weights, loaded into ``model`` and returned with their validation accuracy. Without any
        epoch at the final sparsity (one-shot pruning and no fine-tuning), the current weights."""
        from edge_gmp.train.loop import evaluate  # the loop imports this module

        if self.rule == "average" and self.count:
            reference = model.state_dict()
            averaged = {k: (v / self.count).to(reference[k].dtype) if v.is_floating_point() else v
                        for k, v in self.total.items()}
            model.load_state_dict(averaged)
            _recompute_batchnorm(model, x_train, batch_size)
            return Chosen(self.best["epoch"], evaluate(model, *val)[0], cpu_state(model), self.best["masks"])
        if self.best["state"] is None:
            return Chosen(-1, evaluate(model, *val)[0], cpu_state(model), masks)
        return Chosen(self.best["epoch"], self.best["val_accuracy"], self.best["state"], self.best["masks"])


def _recompute_batchnorm(model: nn.Module, x: Tensor, batch_size: int) -> None:
    """Running statistics of every BatchNorm layer recomputed as a plain average over the training data."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()
