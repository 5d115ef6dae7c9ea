"""DBPF: dual-branch pooling fusion, CaFFNet's replacement for 2x2 max-pooling."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class DBPF(nn.Module):
    """Dual-branch pooling fusion (SPEC section 1).

    1. ``F = conv1x1(concat(avgpool2x2(E), maxpool2x2(E)))``: halves H and W, 2C -> C channels.
    2. Strip pooling: ``F`` averaged along x gives ``(B, C, H/2, 1)``, along y ``(B, C, 1, W/2)``;
       each goes through its own 1x1 conv (as the paper's text says) and is expanded (broadcast)
       back to ``H/2 x W/2``; the two are added, passed through ReLU and a 3x3 conv + BN (the
       paper only says "conv"; 3x3 lets the fused context mix spatially), and added to ``F``:
       ``E' = conv(Fx + Fy) + F``.

    The channel count never changes; the next ConvBlock changes it.
    ``(B, C, H, W) -> (B, C, H // 2, W // 2)`` (H and W even inside the networks).
    """

    def __init__(self, channels: int, fuse_kernel: int = 3) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(2 * channels, channels, 1)
        self.strip_x = nn.Conv2d(channels, channels, 1)
        self.strip_y = nn.Conv2d(channels, channels, 1)
        self.fuse = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, fuse_kernel, padding=fuse_kernel // 2, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.reduce(torch.cat([F.avg_pool2d(x, 2), F.max_pool2d(x, 2)], dim=1))
        fx = self.strip_x(f.mean(dim=3, keepdim=True))  # (B, C, H', 1)  pooled along x
        fy = self.strip_y(f.mean(dim=2, keepdim=True))  # (B, C, 1, W')  pooled along y
        return self.fuse(fx + fy) + f  # broadcasting expands both strips to H' x W'
