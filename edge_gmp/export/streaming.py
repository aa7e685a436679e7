"""A streamed model's two ONNX graphs (the unrolled sequence classifier and the single step the device runs)
and the real (x_t, state) pairs that calibrate the step graph's int8 quantisation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from edge_gmp.errors import UserError
from edge_gmp.export.onnx_export import export_onnx
from edge_gmp.models import StreamingModel, spec_of


def graph_files(model: nn.Module) -> dict[str, str]:
    """ONNX file names by role: ``<model>_sequence.onnx`` and ``<model>_step.onnx``."""
    name = spec_of(model).name
    return {"sequence": f"{name}_sequence.onnx", "step": f"{name}_step.onnx"}


def export_streaming(model: nn.Module, out_dir: str | os.PathLike, window: int = 128,
                     dynamic_batch: bool = True) -> dict[str, Path]:
    """Write the sequence graph (x (B,T,D) -> logits) and the step graph ((x_t, state) -> (state_next,
    logits)) of a streamed model; returns ``{"sequence": path, "step": path}``."""
    plan = spec_of(model).streaming
    if plan is None:
        raise UserError(f"{type(model).__name__} is not a streamed model (its registry entry has no streaming plan)")
    streamed: StreamingModel = model  # type: ignore[assignment]
    out, files = Path(out_dir), graph_files(model)
    state = streamed.initial_state(1)
    features = _features(model)
    sequence = export_onnx(streamed.sequence_graph(), (torch.zeros(1, window, features),), out / files["sequence"],
                           ["x"], ["logits"], dynamic_batch=dynamic_batch)
    step = export_onnx(streamed.step_graph(), (torch.zeros(1, features), state), out / files["step"],
                       list(plan.input_names), list(plan.output_names), dynamic_batch=dynamic_batch)
    return {"sequence": sequence, "step": step}


def _features(model: nn.Module) -> int:
    features = getattr(getattr(model, "config", None), "input_dim", None)
    if not isinstance(features, int):
        raise UserError(f"{type(model).__name__}: a streamed model's config needs input_dim (features per step)")
    return features


def step_calibration(model: nn.Module, windows: Tensor | np.ndarray, samples: int = 500,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Real (x_t, state) pairs for int8 calibration of the step graph: states met while running ``windows``.

    ``windows`` is (N, T, D); returns ``{"<x_t>": (samples, D), "<state>": (samples, H)}`` (the step graph's
    input names) drawn uniformly over windows and time steps (the state is the one *before* step t, so
    t = 0 contributes zero states).
    """
    plan = spec_of(model).streaming
    if plan is None:
        raise UserError(f"{type(model).__name__} is not a streamed model")
    streamed: StreamingModel = model  # type: ignore[assignment]
    x = torch.as_tensor(np.asarray(windows), dtype=torch.float32)
    if x.ndim != 3:
        raise UserError(f"windows must be (N, T, D), got shape {tuple(x.shape)}")
    gen = np.random.default_rng(seed)
    n, steps = x.shape[0], x.shape[1]
    picks = sorted(zip(gen.integers(0, n, samples).tolist(), gen.integers(0, steps, samples).tolist(),
                       strict=True))
    wanted: dict[int, list[int]] = {}
    for i, t in picks:
        wanted.setdefault(t, []).append(i)
    was_training = model.training
    model.eval()
    xs, hs = [], []
    with torch.no_grad():
        h = streamed.initial_state(n)
        for t in range(steps):
            for i in wanted.get(t, []):
                xs.append(x[i, t].numpy())
                hs.append(h[i].numpy())
            h = streamed.step(x[:, t], h)
    model.train(was_training)
    x_name, state_name = plan.input_names
    return {x_name: np.stack(xs).astype(np.float32), state_name: np.stack(hs).astype(np.float32)}
