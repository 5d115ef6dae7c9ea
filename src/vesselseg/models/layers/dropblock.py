"""DropBlock (Ghiasi et al. 2018) as SA-UNet uses it: drop square blocks of a feature map."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vesselseg.models._checks import positive_int, probability


class DropBlock2d(nn.Module):
    """Zero ``block_size`` x ``block_size`` blocks so that about ``p`` of the units are dropped,
    then rescale by (all units / kept units). Identity in eval mode or when ``p == 0``.

    As SA-UNet's Keras layer (keras-drop-block), including its edge cases:

    - block centres are drawn with rate ``gamma = p / b^2 * H W / ((H - b + 1)(W - b + 1))`` at the
      positions ``b // 2 <= y < H - b // 2`` (``x`` alike), where a whole block fits;
    - a map with no such position (smaller than the block, e.g. the 6x6 bottleneck of a 48-px
      patch with ``b = 7``; for odd ``b`` a ``b x b`` map has one, its centre) drops nothing -- the
      block is *not* shrunk to the map;
    - a seed at ``s`` blanks ``s - b // 2 .. s + (b - 1) // 2``, the window of a ``"same"``
      max-pool (for even ``b`` one pixel more before the seed than after).

    Masks are drawn per sample and channel. ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, p: float = 0.1, block_size: int = 7) -> None:
        super().__init__()
        self.p = probability(p, "drop_prob")
        self.block_size = positive_int(block_size, "drop_block")

    def drop_mask(self, shape: torch.Size, device=None, dtype=torch.float32) -> torch.Tensor | None:
        """``(B, C, H, W)`` 1 where a unit is dropped, or None when no block can be seeded."""
        h, w = shape[-2:]
        b, half = self.block_size, self.block_size // 2
        rows, cols = h - 2 * half, w - 2 * half  # seed positions: half <= y < h - half
        if rows <= 0 or cols <= 0:
            return None
        gamma = self.p / b**2 * (h * w) / ((h - b + 1) * (w - b + 1))
        seeds = torch.rand(shape[0], shape[1], rows, cols, device=device) < gamma
        seeds = F.pad(seeds.to(dtype), (half, half, half, half))
        # PyTorch pads a b-window by b // 2 on both sides: for even b its output i covers
        # i - b/2 .. i + b/2 - 1, the Keras "same" window of i + 1, hence the offset.
        start = 1 if b % 2 == 0 else 0
        return _dilate(seeds, b)[..., start : start + h, start : start + w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        dropped = self.drop_mask(x.shape, x.device, x.dtype)
        if dropped is None:
            return x
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
