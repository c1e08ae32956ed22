"""A slim MobileNetV2-style network sized for 2-class head crops.

Built from a block table like torchvision's ``mobilenetv2.py``: each row is
(expansion t, output channels c, repeats n, first stride s) of inverted residual blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from .common import GapLinearClassifier
from .conventions import TORCHVISION, apply_conventions, input_normalization

# t, c, n, s — total stride 16: a 96 px input gives a 6x6 Grad-CAM map, 128 px an 8x8 one.
DEFAULT_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (4, 24, 2, 2),
    (4, 32, 2, 2),
    (4, 48, 2, 2),
    (4, 64, 2, 1),
)
ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6}


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expansion: int, activation: type[nn.Module]):
        super().__init__()
        hidden = inp * expansion
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(Conv2dNormActivation(inp, hidden, kernel_size=1, activation_layer=activation))
        layers += [
            Conv2dNormActivation(hidden, hidden, stride=stride, groups=hidden, activation_layer=activation),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class SlimMobileNet(GapLinearClassifier):
    def __init__(
        self,
        num_classes: int = 2,
        width_mult: float = 1.0,
        blocks: Sequence[Sequence[int]] = DEFAULT_BLOCKS,
        stem_channels: int = 16,
        last_channels: int = 256,
        activation: str = "relu6",
        dropout: float = 0.1,
        input_noise_std: float = 0.02,
        conventions: str | None = None,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        for row in blocks:
            if len(row) != 4 or min(row) < 1:
                raise ValueError(f"each block row is (expansion, channels, repeats, stride) >= 1, got {row}")
        act = ACTIVATIONS[activation]
        channels = _make_divisible(stem_channels * width_mult)
        layers: list[nn.Module] = [Conv2dNormActivation(3, channels, stride=2, activation_layer=act)]
        for t, c, n, s in blocks:
            out = _make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t, act))
                channels = out
        last = _make_divisible(last_channels * width_mult)
        layers.append(Conv2dNormActivation(channels, last, kernel_size=1, activation_layer=act))
        self.conventions = conventions or TORCHVISION
        super().__init__(apply_conventions(nn.Sequential(*layers), self.conventions), last, num_classes, dropout,
                         input_noise_std, normalize=input_normalization(self.conventions))
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
