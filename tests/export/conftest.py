"""Shared fixtures: a tiny pruned FastGRNN and its ONNX graphs; each onnx2tf run happens once a session."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edge_gmp.export import convert_onnx_to_tflite, export_onnx, export_streaming, step_calibration
from edge_gmp.models import create_model

HIDDEN = 16


def pruned_fastgrnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = create_model("fastgrnn", hidden=HIDDEN)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name in ("W", "U"):
            param = getattr(model, name)
            param.mul_((torch.rand(param.shape, generator=gen) > 0.5).float())  # ~50% pruned
    return model.eval()


@pytest.fixture(scope="session")
def fastgrnn_model() -> nn.Module:
    return pruned_fastgrnn()


@pytest.fixture(scope="session")
def fastgrnn_onnx(fastgrnn_model, tmp_path_factory) -> dict:
    return export_streaming(fastgrnn_model, tmp_path_factory.mktemp("fastgrnn_onnx"))


@pytest.fixture(scope="session")
def windows() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((48, 128, 9)).astype(np.float32)


@pytest.fixture(scope="session")
def step_calib(fastgrnn_model, windows) -> dict[str, np.ndarray]:
    return step_calibration(fastgrnn_model, windows, samples=240)


@pytest.fixture(scope="session")
def step_tflite(fastgrnn_onnx, step_calib, tmp_path_factory) -> dict:
    arts = convert_onnx_to_tflite(fastgrnn_onnx["step"], tmp_path_factory.mktemp("step_tflite"), step_calib)
    return {a.kind: a for a in arts}


class TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@pytest.fixture(scope="session")
def convnet() -> nn.Module:
    torch.manual_seed(3)
    net = TinyConvNet()
    bn = net.features[1]
    with torch.no_grad():  # non-trivial running statistics, so folding matters
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="session")
def convnet_onnx(convnet, tmp_path_factory):
    path = tmp_path_factory.mktemp("convnet") / "convnet.onnx"
    return export_onnx(convnet, (torch.zeros(1, 3, 32, 32),), path, ["image"], ["logits"])


@pytest.fixture(scope="session")
def low_rank_model() -> nn.Module:
    torch.manual_seed(4)
    model = create_model("fastgrnn", hidden=HIDDEN, rank_w=3, rank_u=4)
    with torch.no_grad():
        model.W2[:, ::2] = 0.0
        model.U1[::3] = 0.0
    return model.eval()


@pytest.fixture(scope="session")
def low_rank_onnx(low_rank_model, tmp_path_factory) -> dict:
    return export_streaming(low_rank_model, tmp_path_factory.mktemp("low_rank_onnx"))
