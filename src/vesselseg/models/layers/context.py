"""CE-Net's context extractor (Gu et al. 2019): the DAC and RMP blocks."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class DAC(nn.Module):
    """Dense atrous convolution: four cascaded branches with receptive fields 3, 7, 9 and 19
    (3x3 convolutions with dilation 1, 3, 5 and 1x1 convolutions), summed with the input.
    ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()

        def dilated(rate: int) -> nn.Conv2d:
            return nn.Conv2d(channels, channels, 3, padding=rate, dilation=rate)

        self.d1, self.d3, self.d5 = dilated(1), dilated(3), dilated(5)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.d1(x)
        b2 = self.project(self.d3(x))
        b3 = self.project(self.d3(b1))
        b4 = self.project(self.d5(self.d3(b1)))
        return x + F.relu(b1) + F.relu(b2) + F.relu(b3) + F.relu(b4)


class RMP(nn.Module):
    """Residual multi-kernel pooling: max-pool with kernels 2, 3, 5, 6 (stride = kernel), a
    shared 1x1 conv to one channel each, bilinear up-sampling back, concatenated with the input.

    ``ceil_mode`` pooling keeps this working on maps smaller than a kernel (a 64x64 patch gives a
    2x2 map here), where CE-Net's floor pooling would fail.
    ``(B, C, H, W) -> (B, C + 4, H, W)``.
    """

    kernels = (2, 3, 5, 6)

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(
                self.conv(F.max_pool2d(x, k, stride=k, ceil_mode=True)),
                size=size,
                mode="bilinear",
                align_corners=False,
            )
            for k in self.kernels
        ]
        return torch.cat([*pooled, x], dim=1)
