"""DropBlock (Ghiasi et al. 2018) as SA-UNet uses it: drop square blocks of a feature map."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vesselseg.models._checks import positive_int, probability


class DropBlock2d(nn.Module):
    """Zero ``block_size`` x ``block_size`` blocks so that about ``p`` of the units are dropped,
    then rescale by (all units / kept units). Identity in eval mode or when ``p == 0``.

    Block centres are drawn with rate
    ``gamma = p / b^2 * H W / ((H - b + 1)(W - b + 1))`` inside the region where a whole block
    fits (as in the paper and SA-UNet's Keras layer); ``b`` shrinks to ``min(block_size, H, W)``
    on maps smaller than a block. Masks are drawn per sample and channel.
    ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, p: float = 0.1, block_size: int = 7) -> None:
        super().__init__()
        self.p = probability(p, "drop_prob")
        self.block_size = positive_int(block_size, "drop_block")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        h, w = x.shape[-2:]
        b = min(self.block_size, h, w)
        gamma = self.p / b**2 * (h * w) / ((h - b + 1) * (w - b + 1))
        # seeds only where a whole block fits: draw on the valid region, pad to full size
        seeds = torch.rand(x.shape[0], x.shape[1], h - b + 1, w - b + 1, device=x.device) < gamma
        seeds = F.pad(seeds.to(x.dtype), (b // 2, (b - 1) // 2, b // 2, (b - 1) // 2))
        dropped = _dilate(seeds, b)[..., :h, :w]
        keep = 1.0 - dropped
        return x * keep * (keep.numel() / keep.sum().clamp_min(1.0))

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={self.block_size}"


def _dilate(mask: torch.Tensor, b: int) -> torch.Tensor:
    """``max_pool2d(mask, b, stride=1, padding=b // 2)``, exactly, as a 1 x b then b x 1 pool on a
    channels-last copy. Why not the one-liner: on CPU the b x b pool of an NCHW map took over half of
    SA-UNet's training step (7 x 7 windows, 14 DropBlocks per forward); the separable channels-last
    form gives the same mask 3-10x faster (max over a rectangle is separable).
    ``(B, C, H, W) -> (B, C, H, W)``, no gradient (the mask is data, not a function of ``x``).
    """
    with torch.no_grad():
        m = mask.contiguous(memory_format=torch.channels_last)
        m = F.max_pool2d(m, (1, b), stride=1, padding=(0, b // 2))
        return F.max_pool2d(m, (b, 1), stride=1, padding=(b // 2, 0))
