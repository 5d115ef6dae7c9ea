"""SA-UNet (Guo et al. 2020): a 3-step U-Net with DropBlock in every ConvBlock and spatial
attention between the two convolutions of the bottleneck.

Structure checked against the authors' Keras code (clguo/SA-UNet): widths 16/32/64/128,
conv -> DropBlock -> BN -> ReLU twice per block, 2x2 max-pool, 3x3 stride-2 transposed convs,
concat skips, spatial attention (channel mean and max -> 7x7 conv without bias -> sigmoid) in
the bottleneck, DropBlock block size 7 with keep_prob 0.82 on DRIVE (``drop_prob=0.18``).
"""

from __future__ import annotations

from vesselseg.models.nets.unet import UNet
from vesselseg.models.registry import register_model


@register_model("sa_unet")
def sa_unet(
    in_channels: int = 1,
    base_channels: int = 16,
    depth: int = 3,
    drop_prob: float = 0.18,
    drop_block: int = 7,
) -> UNet:
    """SA-UNet, 0.54 M parameters with its defaults.

    ``forward``: ``(B, in_channels, H, W) -> {"logits": (B, 1, H, W), "aux": []}``.
    """
    return UNet(
        in_channels=in_channels,
        depth=depth,
        base_channels=base_channels,
        down="max",
        up="transpose3",
        skip="concat",
        bottleneck_attention="spatial",
        attention_at="middle",
        drop_prob=drop_prob,
        drop_block=drop_block,
    )
