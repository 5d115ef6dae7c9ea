"""The U-Net double convolution with optional DropBlock and an attention plug-in."""

from __future__ import annotations

import torch
import torch.nn as nn

from vesselseg.models._checks import choose
from vesselseg.models.layers.attention import make_attention
from vesselseg.models.layers.dropblock import DropBlock2d

_ATTENTION_AT = {"end": "end", "middle": "middle"}


class ConvBlock(nn.Module):
    """``(3x3 conv -> [DropBlock] -> BN -> ReLU) x 2``, then an optional attention module.

    DropBlock sits between each convolution and its BatchNorm, as in SA-UNet; with
    ``drop_prob=0`` it is an identity. ``attention`` is a name understood by
    :func:`~vesselseg.models.layers.attention.make_attention` (``None`` for none), applied after
    the block (``attention_at="end"``) or between its two convolutions (``"middle"``, SA-UNet's
    bottleneck). Convolutions have no bias (BatchNorm follows).

    ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        drop_prob: float = 0.0,
        drop_block: int = 7,
        attention: str | None = None,
        attention_at: str = "end",
    ) -> None:
        super().__init__()
        where = choose(_ATTENTION_AT, attention_at, "attention_at")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv1 = self._unit(in_channels, out_channels, drop_prob, drop_block)
        self.mid = make_attention(attention if where == "middle" else None, out_channels)
        self.conv2 = self._unit(out_channels, out_channels, drop_prob, drop_block)
        self.attn = make_attention(attention if where == "end" else None, out_channels)

    @staticmethod
    def _unit(cin: int, cout: int, drop_prob: float, drop_block: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            DropBlock2d(drop_prob, drop_block),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.conv2(self.mid(self.conv1(x))))
