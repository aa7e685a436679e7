"""FastGRNN (Kusupati et al., NeurIPS 2018) with optional low-rank W and U, in plain tensor ops.

z  = sigmoid(W x + U h + b_z)
h~ = tanh(W x + U h + b_h)
h' = (sigmoid(zeta) (1 - z) + sigmoid(nu)) * h~ + z * h
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edge_gmp.errors import ConfigError
from edge_gmp.models.registry import register_model


@dataclass(frozen=True)
class FastGRNNConfig:
    input_dim: int = 9
    hidden: int = 32
    num_classes: int = 2
    rank_w: int | None = None
    rank_u: int | None = None
    zeta_init: float = 1.0
    nu_init: float = -4.0

    def __post_init__(self) -> None:
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
        run = _run_sequence
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            run = _run_sequence_scripted
        return run(x, self.initial_state(x.shape[0]), self.input_matrix(), self.recurrent_matrix(),
                   self.bias_gate, self.bias_update, self.zeta, self.nu)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.encode(x))


@register_model("fastgrnn", FastGRNNConfig)
def build_fastgrnn(config: FastGRNNConfig) -> FastGRNN:
    return FastGRNN(config)
