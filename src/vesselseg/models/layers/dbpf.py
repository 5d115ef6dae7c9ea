"""DBPF: dual-branch pooling fusion, CaFFNet's replacement for 2x2 max-pooling.

Strip pooling averages a whole row / column of the map. Trained on 48x48 patches, a row is 24
pixels at the first level; on a whole 999x960 photograph it is ~500 pixels, most of them dark
background -- a context the network never saw (CaFFNet lost 0.02 F1 on CHASE_DB1 against the
sliding-window protocol). Its strips are therefore a
:class:`~vesselseg.models.layers.pooling_context.ContextPooling`: inference averages each
pixel's row and column over a centred window as long as the training patch instead.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vesselseg.models.layers.pooling_context import ContextPooling


class DBPF(ContextPooling):
    """Dual-branch pooling fusion (SPEC section 1).

    1. ``F = conv1x1(concat(avgpool2x2(E), maxpool2x2(E)))``: halves H and W, 2C -> C channels.
    2. Strip pooling: ``F`` averaged along x gives ``(B, C, H/2, 1)``, along y ``(B, C, 1, W/2)``;
       each goes through its own 1x1 conv (as the paper's text says) and is expanded (broadcast)
       back to ``H/2 x W/2``; the two are added, passed through ReLU and a 3x3 conv + BN (the
       paper only says "conv"; 3x3 lets the fused context mix spatially), and added to ``F``:
       ``E' = conv(Fx + Fy) + F``.

    The channel count never changes; the next ConvBlock changes it.
    ``(B, C, H, W) -> (B, C, H // 2, W // 2)`` (H and W even inside the networks).

    ``context_window``: ``None`` (training, the paper) averages whole rows/columns; an odd ``L``
    averages each pixel's row/column over the ``L`` pixels centred on it (fewer at the border),
    see :func:`~vesselseg.models.layers.pooling_context.set_pooling_context`.
    """

    pooled_stride = 2  # the strips pool F, half the input's resolution

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
        # (B, C, H', 1) pooled along x and (B, C, 1, W') along y, broadcast back to H' x W' by
        # the sum; or each (B, C, H', W') with a context window (the 1x1 convs commute with the
        # averaging; with L >= 2 W' - 1 every window spans the whole row, as in training).
        fx = self.strip_x(self.pool_mean(f, "w"))
        fy = self.strip_y(self.pool_mean(f, "h"))
        return self.fuse(fx + fy) + f
