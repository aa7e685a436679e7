"""A model in one file: a small MLP over a flattened (T, D) window, registered for the whole pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from edge_gmp.models import available_models, register_model

NAME = "toy_mlp"


@dataclass(frozen=True)
class ToyMLPConfig:
    steps: int = 16
    features: int = 4
    hidden: int = 32
    num_classes: int = 2

    def __post_init__(self) -> None:
        if min(self.steps, self.features, self.hidden, self.num_classes) < 1:
            raise ValueError("toy_mlp sizes must be positive")


class ToyMLP(nn.Module):
    def __init__(self, config: ToyMLPConfig) -> None:
        super().__init__()
        self.config = config
        self.hidden = nn.Linear(config.steps * config.features, config.hidden)
        self.classifier = nn.Linear(config.hidden, config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(nn.functional.relu(self.hidden(x.flatten(1))))


if NAME not in available_models():
    register_model(NAME, ToyMLPConfig, input_layout="NTC")(ToyMLP)
