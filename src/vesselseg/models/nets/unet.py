"""A U-shaped network whose down-sampling, up-sampling and skip fusion are plug-in parts.

CaFFNet, SA-UNet and Attention U-Net are this network with other parts (see their files).
Levels are numbered 1..depth from the finest (full resolution) to the coarsest skip, as in the
CaFFNet paper; the bottleneck sits below level ``depth``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn as nn

from vesselseg.models._checks import levels, positive_int
from vesselseg.models.layers.conv_block import ConvBlock
from vesselseg.models.layers.fusion import make_fusion
from vesselseg.models.layers.pooling_context import set_input_stride
from vesselseg.models.layers.sampling import make_down, make_up
from vesselseg.models.nets.base import SegmentationModel
from vesselseg.models.registry import register_model


class UNet(SegmentationModel):
    """Generic U-Net: ``depth`` down-sampling steps, widths ``base_channels * 2**l``.

    Encoder: ``ConvBlock(in, c0)``, then per step ``down`` (channels kept) and
    ``ConvBlock(c_l, c_{l+1})``. Decoder, coarsest first: ``up`` (``c_{l+1} -> c_l``), the skip
    fusion ``skip`` with the encoder map of that level (``"none"`` at levels in ``drop_skips``),
    ``ConvBlock(fused, c_l)``. Head: 1x1 conv to one logit channel.

    Args:
        down: ``"max" | "avg" | "dbpf"``; up: ``"transpose" | "transpose3" | "upconv" |
            "bilinear"`` (see :mod:`~vesselseg.models.layers.sampling`).
        skip: ``"concat" | "caff" | "gate" | "none"``; ``caff_mode``/``caff_pool`` are passed to
            CaFF when ``skip="caff"``.
        drop_skips: levels (1 = finest) whose skip connection is removed.
        attention: attention plug-in for every ConvBlock; ``bottleneck_attention`` for the
            bottleneck block only (it wins there); ``attention_at``: ``"end" | "middle"``.
        drop_prob, drop_block: DropBlock inside every ConvBlock (0 disables it).

    ``forward``: ``(B, in_channels, H, W) -> {"logits": (B, 1, H, W), "aux": [...]}``, any H, W
    (padded to a multiple of ``2**depth``); ``aux`` holds one CaFF coarse-mask logit map per
    CaFF level, finest first, level ``l`` at ``ceil(H / 2**(l-1)) x ceil(W / 2**(l-1))``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        depth: int = 4,
        base_channels: int = 8,
        down: str = "max",
        up: str = "transpose",
        skip: str = "concat",
        drop_skips: Sequence[int] = (),
        caff_mode: str = "paper",
        caff_pool: str | None = None,
        attention: str | None = None,
        bottleneck_attention: str | None = None,
        attention_at: str = "end",
        drop_prob: float = 0.0,
        drop_block: int = 7,
        out_channels: int = 1,
    ) -> None:
        super().__init__(in_channels)
        depth = positive_int(depth, "depth")
        widths = [positive_int(base_channels, "base_channels") * 2**level for level in range(depth + 1)]
        self.drop_skips = levels(drop_skips, "drop_skips", depth)
        block = partial(ConvBlock, drop_prob=drop_prob, drop_block=drop_block,
                        attention_at=attention_at)
        fusion_options = {"mode": caff_mode, "pool": caff_pool} if skip == "caff" else {}

        self.stem = block(in_channels, widths[0], attention=attention)
        self.downs = nn.ModuleList(make_down(down, widths[i]) for i in range(depth))
        self.encoders = nn.ModuleList(
            block(widths[i], widths[i + 1], attention=attention) for i in range(depth - 1)
        )
        self.encoders.append(
            block(widths[depth - 1], widths[depth], attention=bottleneck_attention or attention)
        )
        self.ups = nn.ModuleList(make_up(up, widths[i + 1], widths[i]) for i in range(depth))
        self.fusions = nn.ModuleList(
            make_fusion("none", widths[i], widths[i])
            if i + 1 in self.drop_skips
            else make_fusion(skip, widths[i], widths[i], **fusion_options)
            for i in range(depth)
        )
        self.decoders = nn.ModuleList(
            block(self.fusions[i].out_channels, widths[i], attention=attention)
            for i in range(depth)
        )
        self.out_channels = positive_int(out_channels, "out_channels")
        self.head = nn.Conv2d(widths[0], self.out_channels, 1)
        # Where each part works, in network-input pixels per pixel (pooling context windows).
        set_input_stride(self.stem, 1)
        for i in range(depth):
            set_input_stride(self.downs[i], 2**i)
            set_input_stride(self.encoders[i], 2 ** (i + 1))
            set_input_stride(self.decoders[i], 2**i)
            set_input_stride(self.fusions[i], 2**i)  # CaFF pools the up-sampled decoder map at level i

        self.depth = depth
        self.widths = tuple(widths)
        self.size_multiple = 2**depth
        self.aux_strides = tuple(2**i for i in range(depth) if self.fusions[i].makes_aux)
        self.deep_supervision = bool(self.aux_strides)

    def forward_padded(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.stem(x)
        skips = []
        for down, encode in zip(self.downs, self.encoders, strict=True):
            skips.append(h)
            h = encode(down(h))
        aux = []
        for i in reversed(range(self.depth)):
            fused, mask_logits = self.fusions[i](skips[i], self.ups[i](h))
            if mask_logits is not None:
                aux.append(mask_logits)
            h = self.decoders[i](fused)
        aux.reverse()  # finest first
        return self.head(h), aux


@register_model("unet")
def unet(
    in_channels: int = 1,
    depth: int = 4,
    base_channels: int = 8,
    down: str = "max",
    up: str = "transpose",
    skip: str = "concat",
    drop_skips: Sequence[int] = (),
    attention: str | None = None,
    attention_at: str = "end",
    drop_prob: float = 0.0,
    drop_block: int = 7,
    caff_mode: str = "paper",
    caff_pool: str | None = None,
    out_channels: int = 1,
) -> UNet:
    """The original U-Net layout (4 max-pool steps, 2x2 transposed convs, concat skips) scaled
    to ``base_channels=8``: 0.48 M parameters, the SPEC's measured reference U-Net.
    ``out_channels`` > 1: one logit map per class (the artery/vein model's two)."""
    return UNet(in_channels=in_channels, depth=depth, base_channels=base_channels, down=down,
                up=up, skip=skip, drop_skips=drop_skips, attention=attention,
                attention_at=attention_at, drop_prob=drop_prob, drop_block=drop_block,
                caff_mode=caff_mode, caff_pool=caff_pool, out_channels=out_channels)


@register_model("unet_large")
def unet_large(
    in_channels: int = 1,
    drop_skips: Sequence[int] = (),
    attention: str | None = None,
) -> UNet:
    """VesselSeg-Pytorch's U-Net: depth 4, widths 64..1024, nearest up-sampling + 3x3 conv
    (34.5 M parameters)."""
    return UNet(in_channels=in_channels, depth=4, base_channels=64, up="upconv",
                drop_skips=drop_skips, attention=attention)
