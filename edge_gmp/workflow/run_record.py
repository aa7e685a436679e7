"""The record of one training run, built once after training and shared by the pipeline, the sweep's cells and
the benchmarks: accuracies, sparsity per layer, MACs, history, timings and the machine, plus the model itself.

``metrics()`` is what ``metrics.json`` holds (before export adds its part); ``model_file()`` is the one
definition of ``model.pt``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor, nn

from edge_gmp.config import RunConfig
from edge_gmp.data.registry import PreparedData
from edge_gmp.models.macs import macs_report
from edge_gmp.prune import layer_report, overall_sparsity
from edge_gmp.report.machine import describe_machine
from edge_gmp.train import TrainResult, accuracy, predict

_NOT_SAVED = ("model", "masks", "test_logits")


@dataclass
class RunRecord:
    """One trained run: where it came from, its data, accuracies, sparsity, history, timings and the model."""

    preset: str
    model_name: str
    dataset: str
    data_source: str
    samples: dict[str, int]
    classes: list[str]
    normalization: dict[str, Any]
    dense_test_accuracy: float | None  # None when the dense weights were not evaluated (a sweep cell)
    pruned_test_accuracy: float
    best_epoch: int
    best_val_accuracy: float
    selection: str
    dense_weights_from: str | None
    pruning_method: str
    floor_per_layer: int
    target_sparsity: float
    sparsity: float
    layers: list[dict[str, Any]]
    parameters: int
    prunable_parameters: int
    nonzero_parameters: int
    macs_per_sample: dict[str, Any]
    history: list[dict[str, Any]]
    machine: str
    timings: dict[str, float] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)
    masks: dict[str, Tensor] = field(default_factory=dict, repr=False)
    test_logits: np.ndarray | None = field(default=None, repr=False)

    @property
    def train_seconds(self) -> float:
        return float(sum(h.get("seconds", 0.0) for h in self.history if h.get("seconds") == h.get("seconds")))

    @property
    def collapsed_layers(self) -> list[str]:
        return [row["name"] for row in self.layers if row["kept"] == 0]

    def metrics(self) -> dict[str, Any]:
        out = {("model" if f.name == "model_name" else f.name): getattr(self, f.name)
               for f in dataclasses.fields(self) if f.name not in _NOT_SAVED}
        return {**out, "train_seconds": self.train_seconds}

    def model_file(self, config: RunConfig) -> dict[str, Any]:
        """The contents of ``model.pt``: enough to rebuild and use the model without this package's run dir."""
        assert self.model is not None
        return {"model_name": config.model_name, "model_config": config.to_dict()["model"],
                "state_dict": self.model.state_dict(), "masks": self.masks, "normalization": self.normalization}

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Adds the block's wall time to ``timings[stage]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started


def build_record(config: RunConfig, data: PreparedData, result: TrainResult,
                 dense_accuracy: float | None) -> RunRecord:
    """Evaluate the trained model once on the test set and describe it."""
    logits = predict(result.model, data.x_test)
    weights = {name: p.detach() for name, p in result.model.named_parameters() if name in result.masks}
    # "would collapse without the floor" compares with plain Global MP, so only for Global MP runs
    layers = layer_report(result.masks, weights if config.prune.method == "gmp" else None, config.prune.sparsity)
    prunable = sum(w.numel() for w in weights.values())
    n_params = sum(p.numel() for p in result.model.parameters())
    n_zero = sum(int((w == 0).sum()) for w in weights.values())
    example = data.x_test[:1]
    return RunRecord(
        preset=config.name, model_name=config.model_name, dataset=data.dataset, data_source=data.source,
        samples=data.counts, classes=list(data.classes), normalization=data.normalization,
        dense_test_accuracy=dense_accuracy, pruned_test_accuracy=accuracy(logits, data.y_test),
        best_epoch=result.best_epoch, best_val_accuracy=result.best_val_accuracy, selection=config.train.select,
        dense_weights_from=config.train.init_from, pruning_method=config.prune.method,
        floor_per_layer=config.prune.floor.weights_per_layer(prunable), target_sparsity=config.prune.sparsity,
        sparsity=overall_sparsity(result.masks), layers=[row.to_dict() for row in layers], parameters=n_params,
        prunable_parameters=prunable, nonzero_parameters=n_params - n_zero,
        macs_per_sample={"pruned_model": macs_report(result.model, example)}, history=result.history,
        machine=describe_machine() + threads_by_epoch(result.history), model=result.model, masks=result.masks,
        test_logits=logits.numpy())


def threads_by_epoch(history: list[dict[str, Any]]) -> str:
    """'; trained with torch threads 1 in epochs 1-15, 2 in epochs 16-200' for a run resumed with another thread
    count (its figures are not bit-reproducible with either alone); nothing when one count trained every epoch."""
    spans: list[list[int]] = []  # [threads, first epoch, last epoch]
    for h in history:
        threads = h.get("threads", 0)
        if spans and spans[-1][0] == threads:
            spans[-1][2] = h["epoch"]
        else:
            spans.append([threads, h["epoch"], h["epoch"]])
    if len(spans) < 2:
        return ""
    parts = [f"{t or 'unrecorded'} in epochs {a}-{b}" for t, a, b in spans]
    return "; trained with torch threads " + ", ".join(parts)


def record_for_model(config: RunConfig, data: PreparedData, model: nn.Module) -> RunRecord:
    """A record for trained weights without their training run (e.g. a dense model measured in a benchmark):
    the masks are the weights' own non-zero pattern, the history empty."""
    from edge_gmp.prune import prunable_parameters

    params = prunable_parameters(model, config.prune.include, config.prune.exclude)
    masks = {name: p.detach().ne(0).cpu() for name, p in params.items()}
    result = TrainResult(model=model, masks=masks, dense_state={}, history=[], best_epoch=-1)
    return build_record(config, data, result, None)
