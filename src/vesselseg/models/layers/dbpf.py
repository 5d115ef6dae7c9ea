"""DBPF: dual-branch pooling fusion, CaFFNet's replacement for 2x2 max-pooling.

Strip pooling averages a whole row / column of the map. Trained on 48x48 patches, a row is 24
pixels at the first level; on a whole 999x960 photograph it is ~500 pixels, most of them dark
background -- a context the network never saw (CaFFNet lost 0.02 F1 on CHASE_DB1 against the
sliding-window protocol). :func:`set_strip_context` makes inference average each pixel's row and
column over a centred window as long as the training patch instead (``strip_window``).
"""

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

    ``strip_window``: ``None`` (training, the paper) averages whole rows/columns; an odd ``L``
    averages each pixel's row/column over the ``L`` pixels centred on it (fewer at the border),
    see :func:`set_strip_context`. ``input_stride``: how many network-input pixels one input
    pixel of this module spans (set by the network that holds it).
    """

    def __init__(self, channels: int, fuse_kernel: int = 3) -> None:
        super().__init__()
        self.strip_window: int | None = None
        self.input_stride = 1
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
        if self.strip_window is None:
            fx = self.strip_x(f.mean(dim=3, keepdim=True))  # (B, C, H', 1)  pooled along x
            fy = self.strip_y(f.mean(dim=2, keepdim=True))  # (B, C, 1, W')  pooled along y
            return self.fuse(fx + fy) + f  # broadcasting expands both strips to H' x W'
        # A 1xL / Lx1 average pool (ONNX AveragePool) is the windowed strip mean; the 1x1 convs
        # commute with the averaging; with L >= 2 W - 1 every window spans the whole row (= global).
        n = self.strip_window
        fx = F.avg_pool2d(f, (1, n), stride=1, padding=(0, n // 2), count_include_pad=False)
        fy = F.avg_pool2d(f, (n, 1), stride=1, padding=(n // 2, 0), count_include_pad=False)
        return self.fuse(self.strip_x(fx) + self.strip_y(fy)) + f

    def extra_repr(self) -> str:
        return f"strip_window={self.strip_window}" if self.strip_window else ""


def set_strip_context(model: nn.Module, patch: int | None) -> int:
    """Make every :class:`DBPF` in ``model`` average strips over what a ``patch``-pixel training
    patch gave it (``None``: whole rows/columns, the training behaviour). Returns how many DBPFs
    there are.

    A DBPF whose input spans ``s`` network pixels per pixel saw rows of ``patch / (2 s)`` output
    pixels in training; the window is that, made odd so it is centred (24 -> 25, 12 -> 13, 6 -> 7).
    """
    found = 0
    for m in model.modules():
        if isinstance(m, DBPF):
            found += 1
            m.strip_window = None if patch is None else max(1, int(patch) // (2 * m.input_stride)) | 1
    return found
