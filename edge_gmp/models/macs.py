"""Multiply-accumulates per sample of each weight layer, dense and counting only non-zero weights.

Conv2d (grouped/depthwise included) and Linear are counted by forward hooks: every weight element is
used once per output position, so dense MACs = weight elements x positions and effective MACs = non-zero
weights x positions (padding positions count, as usual). Biases, BatchNorm and activations are not MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edge_gmp.models.registry import spec_of


@dataclass(frozen=True)
class LayerMacs:
    """One weight layer; ``name`` is the module (or FastGRNN parameter) name, its weight ``name + ".weight"``
    for modules. MACs are per sample (one image / one window)."""

    name: str
    macs: int
    effective_macs: int

    @property
    def density(self) -> float:
        return self.effective_macs / self.macs if self.macs else 0.0


def count_macs(model: nn.Module, example_input: Tensor) -> list[LayerMacs]:
    """Per-sample MACs of every Conv2d and Linear in ``model`` (module order), from one forward pass of
    ``example_input`` (batched; any batch size). The model runs in eval mode and is restored afterwards."""
    batch = example_input.shape[0]
    totals: dict[str, list[int]] = {}

    def hook(name: str):
        def record(module: nn.Module, _inputs: tuple, output: Tensor) -> None:
            weight = module.weight
            positions = output.numel() // (batch * weight.shape[0])
            counts = totals.setdefault(name, [0, 0])  # a module called twice (shared weights) adds up
            counts[0] += weight.numel() * positions
            counts[1] += int(torch.count_nonzero(weight)) * positions
        return record

    layers = {name: m for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    handles = [m.register_forward_hook(hook(name)) for name, m in layers.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return [LayerMacs(name, *totals[name]) for name in layers if name in totals]


def macs_summary(layers: list[LayerMacs]) -> dict:
    """JSON-ready totals and per-layer rows, MACs per sample."""
    dense = sum(layer.macs for layer in layers)
    effective = sum(layer.effective_macs for layer in layers)
    return {"dense": dense, "effective": effective, "ratio": effective / dense if dense else 0.0,
            "layers": [{"name": layer.name, "dense": layer.macs, "effective": layer.effective_macs}
                       for layer in layers]}


def macs_report(model: nn.Module, example_input: Tensor) -> dict:
    """Per-sample MACs of a registered model, dense and counting non-zero weights: the model's own count
    where its registry entry has one (e.g. a time loop hooks cannot see), else forward hooks."""
    own = spec_of(model).macs
    if own is not None:
        return own(model, example_input)
    return {**macs_summary(count_macs(model, example_input)), "unit": "per sample"}
