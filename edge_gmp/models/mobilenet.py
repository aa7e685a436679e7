"""MobileNet-V1 (Howard et al., 2017), CIFAR variant: 3x3 stride-1 stem, 13 depthwise-separable blocks.

Input (batch, 3, 32, 32); every channel count is scaled by the width multiplier ``width`` (alpha).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from edge_gmp.models.registry import register_model

STEM_CHANNELS = 32
# Widths are multiples of 1/32 up to 2: every layer's channel count (all multiples of 32 at width 1.0) is then whole.
WIDTH_STEP = 1 / STEM_CHANNELS
MAX_WIDTH = 2.0
# (output channels at width 1.0, stride) of the 13 depthwise-separable blocks
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


@dataclass(frozen=True)
class MobileNetV1Config:
    width: float = 0.25
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self) -> None:
        number = isinstance(self.width, (int, float)) and not isinstance(self.width, bool)
        steps = self.width / WIDTH_STEP if number else float("nan")
        if not (1 <= steps <= MAX_WIDTH / WIDTH_STEP and steps == round(steps)):
            raise ValueError(f"mobilenet_v1 width must be a multiple of 1/32 from 0.03125 to {MAX_WIDTH} (e.g. 0.25, "
                             f"0.375, 0.5), so that every layer's channel count is whole; got {self.width}")
        for name in ("num_classes", "in_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"mobilenet_v1 {name} must be a positive integer, got {getattr(self, name)}")


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.depthwise = _conv_bn_relu(cin, cin, 3, stride=stride, groups=cin)
        self.pointwise = _conv_bn_relu(cin, cout, 1)


@register_model("mobilenet_v1", MobileNetV1Config, input_layout="NCHW")
class MobileNetV1(nn.Module):
    def __init__(self, config: MobileNetV1Config) -> None:
        super().__init__()
        self.config = config
        channels = int(STEM_CHANNELS * config.width)
        layers: list[nn.Module] = [_conv_bn_relu(config.in_channels, channels, 3)]
        for cout, stride in BLOCKS:
            cout = int(cout * config.width)
            layers.append(DepthwiseSeparable(channels, cout, stride))
            channels = cout
        self.features = nn.Sequential(*layers)
        # AdaptiveAvgPool2d(1) exports as GlobalAveragePool, which onnx2tf turns into MEAN (TFLM has it)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, config.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))
