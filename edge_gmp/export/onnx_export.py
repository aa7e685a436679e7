"""ONNX export with the legacy (TorchScript) exporter: eval mode, checked, atomic, one self-contained file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch
from torch import nn

from edge_gmp.atomic import atomic_path
from edge_gmp.errors import UserError

OPSET = 17


def export_onnx(module: nn.Module, example_inputs: tuple, path: str | os.PathLike,
                input_names: Sequence[str], output_names: Sequence[str],
                dynamic_batch: bool = True, opset: int = OPSET) -> Path:
    """Export ``module`` (in eval mode, so BatchNorm is folded) to ``path`` and check the graph.

    Weights are stored as initializers inside the file (no external data), so pruned zeros survive
    bitwise. With ``dynamic_batch`` axis 0 of every input and output is named ``batch``.
    """
    if not isinstance(example_inputs, tuple):
        raise UserError("example_inputs must be a tuple of tensors")
    if len(example_inputs) != len(input_names):
        raise UserError(f"{len(example_inputs)} example inputs but {len(input_names)} input names")
    target = Path(path)
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: "batch"} for name in (*input_names, *output_names)}
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), atomic_path(target, suffix=".onnx") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False is deliberate
            torch.onnx.export(module, example_inputs, str(tmp), input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=dynamic_axes,
                              opset_version=opset, do_constant_folding=True, dynamo=False)
            model = onnx.load(str(tmp))
            onnx.checker.check_model(model, full_check=True)
            if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
                raise UserError(f"ONNX export of {target.name} produced external data; model too large")
    finally:
        module.train(was_training)
    return target
