"""FastGRNN (Kusupati et al., NeurIPS 2018) with optional low-rank W and U, in plain tensor ops.

z  = sigmoid(W x + U h + b_z)
h~ = tanh(W x + U h + b_h)
h' = (sigmoid(zeta) (1 - z) + sigmoid(nu)) * h~ + z * h
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from edge_gmp.errors import ConfigError
from edge_gmp.models.macs import LayerMacs, macs_summary
from edge_gmp.models.registry import StreamingPlan, register_model

STREAMING = StreamingPlan(
    description="streaming FastGRNN step (x_t, h) -> (h_next, logits)",
    usage="start with h = 0 (h's zero point), feed the window's samples one step at a time as x_t, copying "
          "h_next's raw integers into h (the two share one quantisation); argmax(logits) after the last step "
          "is the class")


@dataclass(frozen=True)
class FastGRNNConfig:
    input_dim: int = 9
    hidden: int = 32
    num_classes: int = 2
    rank_w: int | None = None
    rank_u: int | None = None
    zeta_init: float = 1.0
    nu_init: float = -4.0
    dropout: float = 0.0  # on the final hidden state before the classifier, in training only

    def __post_init__(self) -> None:
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise ConfigError(f"fastgrnn dropout must be in [0, 1), got {self.dropout}")
        for name in ("input_dim", "hidden", "num_classes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"fastgrnn {name} must be a positive integer, got {getattr(self, name)}")
        for name, limit in (("rank_w", min(self.input_dim, self.hidden)), ("rank_u", self.hidden)):
            rank = getattr(self, name)
            if rank is not None and not 1 <= rank <= limit:
                raise ConfigError(f"fastgrnn {name} must be in [1, {limit}] or unset (full rank), got {rank}")


def _cell(wx: Tensor, h: Tensor, u: Tensor, bias_gate: Tensor, bias_update: Tensor,
          zeta: Tensor, nu: Tensor) -> Tensor:
    pre = wx + h @ u.t()
    z = torch.sigmoid(pre + bias_gate)
    h_tilde = torch.tanh(pre + bias_update)
    return (torch.sigmoid(zeta) * (1.0 - z) + torch.sigmoid(nu)) * h_tilde + z * h


def _run_sequence(x: Tensor, h: Tensor, w: Tensor, u: Tensor, bias_gate: Tensor, bias_update: Tensor,
                  zeta: Tensor, nu: Tensor) -> Tensor:
    for t in range(x.shape[1]):
        h = _cell(x[:, t] @ w.t(), h, u, bias_gate, bias_update, zeta, nu)
    return h


# The scripted loop trains ~2x faster; tracing/ONNX export uses the Python one, which unrolls the steps.
_run_sequence_scripted = torch.jit.script(_run_sequence)
_PROFILING_CALLS = 3  # more than TorchScript's profiled runs (1) plus its first optimised run
_PROFILED_SHAPES: set[tuple] = set()


def _profile_once(x: Tensor, h: Tensor, params: tuple[Tensor, ...]) -> None:
    """Run the scripted graph with gradients on throwaway copies the first time a shape is seen.

    TorchScript's profiling executor computes the gradients of a graph's first calls per input shape with
    autograd and later ones with its own derivative formulas, which round differently. A process that starts
    mid-run (a resumed run) would take its first steps of each batch shape on the other path and drift from the
    uninterrupted run; after this warm-up every real step takes the same path in every process.
    """
    key = (tuple(x.shape), x.dtype, str(x.device), tuple(p.requires_grad for p in params))
    if key in _PROFILED_SHAPES:
        return
    for _ in range(_PROFILING_CALLS):
        copies = [p.detach().clone().requires_grad_(p.requires_grad) for p in params]
        out = _run_sequence_scripted(x.detach(), h.detach(), *copies)
        if out.requires_grad:
            out.sum().backward()
    _PROFILED_SHAPES.add(key)


@register_model("fastgrnn", FastGRNNConfig, input_layout="NTC", streaming=STREAMING,
                macs=lambda model, x: fastgrnn_macs_report(model, window=x.shape[1]))
class FastGRNN(nn.Module):
    """FastGRNN classifier: the cell over a (batch, time, features) sequence, then a linear layer."""

    def __init__(self, config: FastGRNNConfig) -> None:
        super().__init__()
        self.config = config
        d, h = config.input_dim, config.hidden
        if config.rank_w is None:
            self.W = nn.Parameter(0.1 * torch.randn(h, d))
        else:
            self.W1 = nn.Parameter(0.1 * torch.randn(h, config.rank_w))
            self.W2 = nn.Parameter(0.1 * torch.randn(config.rank_w, d))
        if config.rank_u is None:
            self.U = nn.Parameter(0.1 * torch.randn(h, h))
        else:
            self.U1 = nn.Parameter(0.1 * torch.randn(h, config.rank_u))
            self.U2 = nn.Parameter(0.1 * torch.randn(config.rank_u, h))
        self.bias_gate = nn.Parameter(torch.ones(h))
        self.bias_update = nn.Parameter(torch.ones(h))
        self.zeta = nn.Parameter(torch.tensor([config.zeta_init]))
        self.nu = nn.Parameter(torch.tensor([config.nu_init]))
        self.classifier = nn.Linear(h, config.num_classes)

    def input_matrix(self) -> Tensor:
        return self.W if self.config.rank_w is None else self.W1 @ self.W2

    def recurrent_matrix(self) -> Tensor:
        return self.U if self.config.rank_u is None else self.U1 @ self.U2

    def initial_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, self.config.hidden, dtype=self.bias_gate.dtype, device=self.bias_gate.device)

    def step(self, x_t: Tensor, h: Tensor) -> Tensor:
        """One time step: (batch, features), (batch, hidden) -> (batch, hidden)."""
        return _cell(x_t @ self.input_matrix().t(), h, self.recurrent_matrix(), self.bias_gate,
                     self.bias_update, self.zeta, self.nu)

    def encode(self, x: Tensor) -> Tensor:
        """Final hidden state of a (batch, time, features) sequence."""
        h = self.initial_state(x.shape[0])
        params = (self.input_matrix(), self.recurrent_matrix(), self.bias_gate, self.bias_update, self.zeta, self.nu)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return _run_sequence(x, h, *params)
        if torch.is_grad_enabled():
            _profile_once(x, h, params)
        return _run_sequence_scripted(x, h, *params)

    def forward(self, x: Tensor) -> Tensor:
        h = self.encode(x)
        if self.training and self.config.dropout > 0:  # eval (and every exported graph) never drops
            h = nn.functional.dropout(h, self.config.dropout, training=True)
        return self.classifier(h)

    def step_graph(self) -> nn.Module:
        return FastGRNNStep(self)

    def sequence_graph(self) -> nn.Module:
        """The model itself when full-rank; low-rank models step :class:`FastGRNNStep`'s cell (see there)."""
        return FastGRNNSequence(self) if self.low_rank else self

    @property
    def low_rank(self) -> bool:
        return self.config.rank_w is not None or self.config.rank_u is not None




class FastGRNNStep(nn.Module):
    """(x_t, h) -> (h_next, logits): one cell step and the classifier, sharing the model's tensors.

    Full-rank models run ``model.step`` itself. Low-rank factors are applied one after the other
    (``(x W2^T) W1^T``) so the graph stores W1, W2 (U1, U2) rather than their dense product: fewer
    weights on the device, and the factors' pruned zeros survive.
    """

    def __init__(self, model: FastGRNN) -> None:
        super().__init__()
        self.model = model

    def cell(self, x_t: Tensor, h: Tensor) -> Tensor:
        m = self.model
        wx = x_t @ m.W.t() if m.config.rank_w is None else (x_t @ m.W2.t()) @ m.W1.t()
        uh = h @ m.U.t() if m.config.rank_u is None else (h @ m.U2.t()) @ m.U1.t()
        pre = wx + uh
        z = torch.sigmoid(pre + m.bias_gate)
        h_tilde = torch.tanh(pre + m.bias_update)
        return (torch.sigmoid(m.zeta) * (1.0 - z) + torch.sigmoid(m.nu)) * h_tilde + z * h

    def forward(self, x_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h_next = self.cell(x_t, h) if self.model.low_rank else self.model.step(x_t, h)
        return h_next, self.model.classifier(h_next)


class FastGRNNSequence(nn.Module):
    """x (B,T,D) -> logits, stepping :class:`FastGRNNStep`'s cell (used for low-rank models only).

    The model's own forward builds ``W1 @ W2`` inside the graph; onnx2tf mis-converts that product
    followed by its transpose (LiteRT outputs off by ~0.05), and it would store the dense product.
    """

    def __init__(self, model: FastGRNN) -> None:
        super().__init__()
        self.step = FastGRNNStep(model)

    def forward(self, x: Tensor) -> Tensor:
        model = self.step.model
        h = model.initial_state(x.shape[0])
        for t in range(x.shape[1]):
            h = self.step.cell(x[:, t], h)
        return model.classifier(h)


def fastgrnn_macs(model: FastGRNN, window: int = 128) -> list[LayerMacs]:
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


def fastgrnn_macs_report(model: FastGRNN, window: int = 128) -> dict[str, Any]:
    """MACs per window and, for the cell (W x + U h, run once per sensor sample on a streaming device), per
    time step; the classifier runs once per window."""
    layers = fastgrnn_macs(model, window)
    report = macs_summary(layers)
    cell = [layer for layer in layers if layer.name != "classifier"]
    report["unit"] = f"per window of {window} steps"
    report["per_step"] = {"dense": sum(layer.macs for layer in cell) // window,
                          "effective": sum(layer.effective_macs for layer in cell) // window}
    return report
