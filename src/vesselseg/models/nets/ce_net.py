"""CE-Net (Gu et al. 2019): ResNet-34 encoder, DAC + RMP context extractor, light decoder.

The encoder is a ResNet-34 (BasicBlocks 3-4-6-3, widths 64-512) written here and trained from
scratch: the original starts from ImageNet weights, which cannot be downloaded on the project
machines. The stem takes ``in_channels`` (1 for the project's grey images).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vesselseg.models.layers.context import DAC, RMP
from vesselseg.models.nets.base import SegmentationModel
from vesselseg.models.registry import register_model


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + BN, identity (or 1x1 projection) shortcut.
    ``(B, Cin, H, W) -> (B, Cout, H / stride, W / stride)``."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        BasicBlock(cin, cout, stride), *(BasicBlock(cout, cout) for _ in range(blocks - 1))
    )


class DecoderBlock(nn.Module):
    """CE-Net decoder block: 1x1 conv (C/4) -> 3x3 stride-2 transposed conv -> 1x1 conv, each
    with BN + ReLU. ``(B, Cin, H, W) -> (B, Cout, 2H, 2W)``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin // 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class CENet(SegmentationModel):
    """CE-Net. ``forward``: ``(B, in_channels, H, W) -> {"logits": (B, 1, H, W), "aux": []}``;
    any H, W (padded to a multiple of 32: the encoder's total stride)."""

    size_multiple = 32

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__(in_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _stage(64, 64, 3, 1)  # 1/4
        self.layer2 = _stage(64, 128, 4, 2)  # 1/8
        self.layer3 = _stage(128, 256, 6, 2)  # 1/16
        self.layer4 = _stage(256, 512, 3, 2)  # 1/32
        self.dac = DAC(512)
        self.rmp = RMP(512)
        self.decoder4 = DecoderBlock(512 + 4, 256)
        self.decoder3 = DecoderBlock(256, 128)
        self.decoder2 = DecoderBlock(128, 64)
        self.decoder1 = DecoderBlock(64, 64)
        self.final = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 1, 3, padding=1),
        )

    def forward_padded(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        e1 = self.layer1(self.pool(self.stem(x)))
        e2 = self.layer2(e1)
        e3 = self.layer3(e2)
        e4 = self.rmp(self.dac(self.layer4(e3)))
        d4 = self.decoder4(e4) + e3
        d3 = self.decoder3(d4) + e2
        d2 = self.decoder2(d3) + e1
        return self.final(self.decoder1(d2)), []


@register_model("ce_net")
def ce_net(in_channels: int = 1) -> CENet:
    """CE-Net with a ResNet-34 encoder trained from scratch (about 29 M parameters)."""
    return CENet(in_channels=in_channels)
