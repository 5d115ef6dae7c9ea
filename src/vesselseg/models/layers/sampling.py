"""Down- and up-sampling steps for U-shaped networks, chosen by name.

Down: ``(B, C, H, W) -> (B, C, H/2, W/2)``, channels unchanged: ``"max"`` (2x2 max-pool),
``"avg"`` (2x2 average pool), ``"dbpf"`` (CaFFNet's dual-branch pooling fusion).

Up: ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``: ``"transpose"`` (2x2 transposed conv, stride 2,
the original U-Net), ``"transpose3"`` (3x3 transposed conv, stride 2, as SA-UNet's Keras
``Conv2DTranspose(3, strides=2, padding="same")``), ``"upconv"`` (nearest x2 -> 3x3 conv -> BN
-> ReLU, as VesselSeg-Pytorch's U-Net and Attention U-Net), ``"bilinear"`` (bilinear x2 -> 1x1
conv).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from vesselseg.models._checks import choose
from vesselseg.models.layers.dbpf import DBPF

DOWN: dict[str, Callable[[int], nn.Module]] = {
    "max": lambda channels: nn.MaxPool2d(2),
    "avg": lambda channels: nn.AvgPool2d(2),
    "dbpf": DBPF,
}


def _upconv(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(
        nn.Upsample(scale_factor=2.0, mode="nearest"),
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _bilinear(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(
        nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
        nn.Conv2d(cin, cout, 1),
    )


UP: dict[str, Callable[[int, int], nn.Module]] = {
    "transpose": lambda cin, cout: nn.ConvTranspose2d(cin, cout, 2, stride=2),
    "transpose3": lambda cin, cout: nn.ConvTranspose2d(
        cin, cout, 3, stride=2, padding=1, output_padding=1
    ),
    "upconv": _upconv,
    "bilinear": _bilinear,
}


def make_down(name: str, channels: int) -> nn.Module:
    return choose(DOWN, name, "down")(channels)


def make_up(name: str, in_channels: int, out_channels: int) -> nn.Module:
    return choose(UP, name, "up")(in_channels, out_channels)
