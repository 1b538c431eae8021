"""A tiny convolutional backbone with an FPN that trains detectors on a CPU.

About 0.2 M parameters of backbone; with an FCOS head of 64 channels the whole
detector has roughly 0.7 M.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

#: Output channels of the FPN levels (and input channels of the heads).
FPN_CHANNELS = 64
#: Strides of the three FPN levels the tiny backbone returns.
STRIDES = (8, 16, 32)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """Five strided conv stages; returns FPN features at strides 8, 16 and 32.

    Exposes ``out_channels`` as torchvision's detectors expect.
    """

    def __init__(self, width: int = 16, fpn_channels: int = FPN_CHANNELS) -> None:
        super().__init__()
        w = width
        self.stem = _conv(3, w, 2)  # /2
        self.stage1 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))  # /4
        self.stage2 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))  # /8
        self.stage3 = nn.Sequential(_conv(4 * w, 6 * w, 2), _conv(6 * w, 6 * w))  # /16
        self.stage4 = nn.Sequential(_conv(6 * w, 8 * w, 2), _conv(8 * w, 8 * w))  # /32
        self.fpn = FeaturePyramidNetwork([4 * w, 6 * w, 8 * w], fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.stage1(self.stem(x))
        c3 = self.stage2(x)
        c4 = self.stage3(c3)
        c5 = self.stage4(c4)
        return self.fpn(OrderedDict([("0", c3), ("1", c4), ("2", c5)]))
