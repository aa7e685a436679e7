"""Multiply-accumulates per sample of each weight layer, dense and counting only non-zero weights.

Conv2d (grouped/depthwise included) and Linear are counted by forward hooks: every weight element is
used once per output position, so dense MACs = weight elements x positions and effective MACs = non-zero
weights x positions (padding positions count, as usual). Biases, BatchNorm and activations are not MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edge_gmp.models.fastgrnn import FastGRNN


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


def fastgrnn_macs(model: nn.Module, window: int = 128) -> list[LayerMacs]:
    """Per-window MACs of a FastGRNN: W x and U h each time step (low-rank: the factors one after the
    other, ``(x W2^T) W1^T``, as exported), ``window`` steps, then the classifier once."""
    names = ["W"] if model.config.rank_w is None else ["W2", "W1"]
    names += ["U"] if model.config.rank_u is None else ["U2", "U1"]
    layers = []
    for name in names:
        weight = getattr(model, name)
        layers.append(LayerMacs(name, weight.numel() * window, int(torch.count_nonzero(weight)) * window))
    fc = model.classifier.weight
    layers.append(LayerMacs("classifier", fc.numel(), int(torch.count_nonzero(fc))))
    return layers


def model_macs(model: nn.Module, example_input: Tensor) -> list[LayerMacs]:
    """Per-layer MACs of any registered model: FastGRNN per window of ``example_input``'s length (its
    time loop is not a module hooks can see), other models by forward hooks."""
    if isinstance(model, FastGRNN):
        return fastgrnn_macs(model, window=example_input.shape[1])
    return count_macs(model, example_input)


def macs_summary(layers: list[LayerMacs]) -> dict:
    """JSON-ready totals and per-layer rows, MACs per sample."""
    dense = sum(layer.macs for layer in layers)
    effective = sum(layer.effective_macs for layer in layers)
    return {"dense": dense, "effective": effective, "ratio": effective / dense if dense else 0.0,
            "layers": [{"name": layer.name, "dense": layer.macs, "effective": layer.effective_macs}
                       for layer in layers]}


def macs_report(model: nn.Module, example_input: Tensor) -> dict:
    """:func:`macs_summary` of ``model`` with its unit; FastGRNN also per time step (the cell, W x + U h,
    which a streaming device runs once per sensor sample; the classifier runs once per window)."""
    layers = model_macs(model, example_input)
    report = macs_summary(layers)
    if isinstance(model, FastGRNN):
        window = example_input.shape[1]
        cell = [layer for layer in layers if layer.name != "classifier"]
        report["unit"] = f"per window of {window} steps"
        report["per_step"] = {"dense": sum(layer.macs for layer in cell) // window,
                              "effective": sum(layer.effective_macs for layer in cell) // window}
    else:
        report["unit"] = "per sample"
    return report
