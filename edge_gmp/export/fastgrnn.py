"""FastGRNN's two ONNX graphs: the unrolled sequence classifier and the streaming single-step cell."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from edge_gmp.errors import UserError
from edge_gmp.export.onnx_export import export_onnx

SEQUENCE_FILE = "fastgrnn_sequence.onnx"
STEP_FILE = "fastgrnn_step.onnx"


class FastGRNNStep(nn.Module):
    """(x_t, h) -> (h_next, logits): one cell step and the classifier, sharing the model's tensors.

    Full-rank models run ``model.step`` itself. Low-rank factors are applied one after the other
    (``(x W2^T) W1^T``) so the graph stores W1, W2 (U1, U2) rather than their dense product: fewer
    weights on the device, and the factors' pruned zeros survive.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def _cell(self, x_t: Tensor, h: Tensor) -> Tensor:
        m = self.model
        wx = x_t @ m.W.t() if m.config.rank_w is None else (x_t @ m.W2.t()) @ m.W1.t()
        uh = h @ m.U.t() if m.config.rank_u is None else (h @ m.U2.t()) @ m.U1.t()
        pre = wx + uh
        z = torch.sigmoid(pre + m.bias_gate)
        h_tilde = torch.tanh(pre + m.bias_update)
        return (torch.sigmoid(m.zeta) * (1.0 - z) + torch.sigmoid(m.nu)) * h_tilde + z * h

    def forward(self, x_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h_next = self._cell(x_t, h) if _low_rank(self.model) else self.model.step(x_t, h)
        return h_next, self.model.classifier(h_next)


class FastGRNNSequence(nn.Module):
    """x (B,T,D) -> logits, stepping :class:`FastGRNNStep`'s cell (used for low-rank models only).

    The model's own forward builds ``W1 @ W2`` inside the graph; onnx2tf mis-converts that product
    followed by its transpose (LiteRT outputs off by ~0.05), and it would store the dense product.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.cell = FastGRNNStep(model)

    def forward(self, x: Tensor) -> Tensor:
        model = self.cell.model
        h = model.initial_state(x.shape[0])
        for t in range(x.shape[1]):
            h = self.cell._cell(x[:, t], h)
        return model.classifier(h)


def _low_rank(model: nn.Module) -> bool:
    return model.config.rank_w is not None or model.config.rank_u is not None


def export_fastgrnn(model: nn.Module, out_dir: str | os.PathLike, window: int = 128,
                    dynamic_batch: bool = True) -> dict[str, Path]:
    """Write ``fastgrnn_sequence.onnx`` (x (B,T,D) -> logits) and ``fastgrnn_step.onnx``.

    Returns ``{"sequence": path, "step": path}``. Full-rank models export their own ``forward``/``step``;
    low-rank ones keep W1, W2, U1, U2 as separate factors (see :class:`FastGRNNStep`).
    """
    out = Path(out_dir)
    cfg = model.config
    x = torch.zeros(1, window, cfg.input_dim)
    seq_module = FastGRNNSequence(model) if _low_rank(model) else model
    seq = export_onnx(seq_module, (x,), out / SEQUENCE_FILE, ["x"], ["logits"], dynamic_batch=dynamic_batch)
    x_t = torch.zeros(1, cfg.input_dim)
    h = torch.zeros(1, cfg.hidden)
    step = export_onnx(FastGRNNStep(model), (x_t, h), out / STEP_FILE, ["x_t", "h"], ["h_next", "logits"],
                       dynamic_batch=dynamic_batch)
    return {"sequence": seq, "step": step}


def step_calibration(model: nn.Module, windows: Tensor | np.ndarray, samples: int = 500,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Real (x_t, h) pairs for int8 calibration of the step graph: states met while running ``windows``.

    ``windows`` is (N, T, D); returns ``{"x_t": (samples, D), "h": (samples, H)}`` drawn uniformly over
    windows and time steps (h is the state *before* step t, so t = 0 contributes zero states).
    """
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
        h = model.initial_state(n)
        for t in range(steps):
            for i in wanted.get(t, []):
                xs.append(x[i, t].numpy())
                hs.append(h[i].numpy())
            h = model.step(x[:, t], h)
    model.train(was_training)
    return {"x_t": np.stack(xs).astype(np.float32), "h": np.stack(hs).astype(np.float32)}
