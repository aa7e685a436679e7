import torch
from torch import nn

from edge_gmp.models import create_model
from edge_gmp.models.fastgrnn import fastgrnn_macs
from edge_gmp.models.macs import LayerMacs, count_macs, macs_report, macs_summary


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)          # 8x8 out
        self.dw = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4)     # 4x4 out
        self.grouped = nn.Conv2d(4, 6, 1, groups=2)                     # 4x4 out
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.grouped(self.dw(self.conv(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_dense_and_effective_macs_by_hand():
    model = Tiny().train()
    with torch.no_grad():
        model.conv.weight[0] = 0.0          # 18 of 72 weights
        model.dw.weight[:, :, 0, :] = 0.0   # 12 of 36
        model.fc.weight[:, :2] = 0.0        # 10 of 30
    layers = count_macs(model, torch.randn(3, 2, 8, 8))
    assert [layer.name for layer in layers] == ["conv", "dw", "grouped", "fc"]
    assert layers[0] == LayerMacs("conv", 4 * 2 * 9 * 64, 3 * 2 * 9 * 64)
    assert layers[1] == LayerMacs("dw", 4 * 1 * 9 * 16, 4 * 1 * 6 * 16)
    assert layers[2] == LayerMacs("grouped", 6 * 2 * 1 * 16, 6 * 2 * 1 * 16)
    assert layers[3] == LayerMacs("fc", 5 * 6, 5 * 4)
    assert layers[1].density == 6 / 9
    assert model.training and torch.equal(model.bn.running_mean, torch.zeros(6))  # no stats update, mode kept
    assert not model.conv._forward_hooks


def test_linear_over_sequence_counts_every_position():
    layers = count_macs(nn.Linear(3, 2), torch.randn(4, 7, 3))
    assert layers == [LayerMacs("", 7 * 3 * 2, 7 * 3 * 2)]


def test_mobilenet_total():
    layers = count_macs(create_model("mobilenet_v1", width=1.0), torch.zeros(1, 3, 32, 32))
    assert len(layers) == 28
    # stem 32x32, then per block depthwise 9*C_in + pointwise C_in*C_out at the output resolution
    expected = 3 * 32 * 9 * 32 * 32 + 10240
    c_in, size = 32, 32
    for c_out, stride in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                          (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)):
        size //= stride
        expected += (9 * c_in + c_in * c_out) * size * size
        c_in = c_out
    assert sum(layer.macs for layer in layers) == expected


def test_fastgrnn_full_and_low_rank():
    model = create_model("fastgrnn", hidden=4, input_dim=3, num_classes=2)
    with torch.no_grad():
        model.W[0] = 0.0
        model.U[:, 0] = 0.0
    assert fastgrnn_macs(model, window=10) == [
        LayerMacs("W", 4 * 3 * 10, 3 * 3 * 10), LayerMacs("U", 4 * 4 * 10, 4 * 3 * 10),
        LayerMacs("classifier", 2 * 4, 2 * 4)]
    low = create_model("fastgrnn", hidden=4, input_dim=3, rank_w=2, rank_u=1)
    assert [(layer.name, layer.macs) for layer in fastgrnn_macs(low)] == [
        ("W2", 2 * 3 * 128), ("W1", 4 * 2 * 128), ("U2", 1 * 4 * 128), ("U1", 4 * 1 * 128), ("classifier", 8)]


def test_macs_report_asks_the_registry_entry() -> None:
    rnn = create_model("fastgrnn", hidden=4)
    with torch.no_grad():
        rnn.U.zero_()
    summary = macs_report(rnn, torch.zeros(1, 10, 9))
    assert summary["dense"] == (4 * 9 + 4 * 4) * 10 + 2 * 4
    assert summary["effective"] == summary["dense"] - 4 * 4 * 10
    assert [row["name"] for row in summary["layers"]] == ["W", "U", "classifier"]
    cnn = create_model("mobilenet_v1", width=0.25)
    assert macs_report(cnn, torch.zeros(1, 3, 32, 32))["ratio"] == 1.0
    assert macs_summary(count_macs(cnn, torch.zeros(1, 3, 32, 32)))["ratio"] == 1.0


def test_macs_report_per_step_and_per_window() -> None:
    rnn = create_model("fastgrnn", hidden=4)
    with torch.no_grad():
        rnn.U.zero_()
    report = macs_report(rnn, torch.zeros(1, 10, 9))
    assert report["per_step"] == {"dense": 4 * 9 + 4 * 4, "effective": 4 * 9}
    assert report["dense"] == 10 * report["per_step"]["dense"] + 2 * 4 and report["unit"] == "per window of 10 steps"
    assert macs_report(create_model("mobilenet_v1", width=0.25), torch.zeros(1, 3, 32, 32))["unit"] == "per sample"
