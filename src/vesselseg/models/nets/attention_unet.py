"""Attention U-Net (Oktay et al. 2018): U-Net whose skip features pass an additive attention
gate driven by the up-sampled decoder map before concatenation."""

from __future__ import annotations

from vesselseg.models.nets.unet import UNet
from vesselseg.models.registry import register_model


@register_model("attention_unet")
def attention_unet(
    in_channels: int = 1,
    depth: int = 4,
    base_channels: int = 8,
    up: str = "transpose",
    attention: str | None = None,
) -> UNet:
    """Attention U-Net with the same layout and widths as the default ``unet`` (so the gates
    are the only difference); ``base_channels=64, up="upconv"`` gives the usual 34.9 M model.

    ``forward``: ``(B, in_channels, H, W) -> {"logits": (B, 1, H, W), "aux": []}``.
    """
    return UNet(
        in_channels=in_channels,
        depth=depth,
        base_channels=base_channels,
        up=up,
        skip="gate",
        attention=attention,
    )
