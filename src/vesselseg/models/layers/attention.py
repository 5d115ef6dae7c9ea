"""Attention plug-ins chosen by name.

Every module here takes ``channels`` first and maps ``(B, C, H, W) -> (B, C, H, W)``, so a block
only asks :func:`make_attention` for one. Names: ``"se"``, ``"cbam"``, ``"coord"``, ``"scse"``,
``"spatial"`` (SA-UNet's spatial attention) and ``None`` (identity). The ones that pool over the
whole map (SE, CBAM's channel gate, coordinate attention, scSE's channel half) are
:class:`~vesselseg.models.layers.pooling_context.ContextPooling` modules: inference can make that
pooling local (see there).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from vesselseg.models._checks import choose
from vesselseg.models.layers.pooling_context import ContextPooling

#: name -> module class; filled by :func:`register_attention`.
ATTENTION: dict[str, type[nn.Module]] = {}


def register_attention(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        ATTENTION[name] = cls
        return cls

    return decorate


def get_attention(name: str | None) -> type[nn.Module] | Callable[[int], nn.Module]:
    """The attention class registered as ``name``; ``None`` gives a channel-ignoring identity."""
    if name is None:
        return lambda channels: nn.Identity()
    return choose(ATTENTION, name, "attention")


def make_attention(name: str | None, channels: int) -> nn.Module:
    """An attention module for ``channels`` channels (``nn.Identity`` for ``None``)."""
    return get_attention(name)(channels)


def _hidden(channels: int, reduction: int, minimum: int) -> int:
    return max(minimum, channels // reduction)


@register_attention("se")
class SqueezeExcitation(ContextPooling):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool -> MLP -> sigmoid channel
    weights (per pixel, from its window, with a context window). ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction, 4)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool_mean(x))


class ChannelGate(ContextPooling):
    """CBAM's channel attention: a shared MLP on average- and max-pooled descriptors.
    ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(self.pool_mean(x))
        mx = self.mlp(self.pool_max(x))
        return x * torch.sigmoid(avg + mx)


@register_attention("spatial")
class SpatialAttention(nn.Module):
    """Spatial attention as in CBAM and SA-UNet: channel-wise mean and max -> 7x7 conv (no bias)
    -> sigmoid -> one weight per pixel. ``channels`` is accepted for the common interface only.
    ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(desc))


@register_attention("cbam")
class CBAM(nn.Module):
    """Convolutional block attention module (Woo et al. 2018): channel gate, then spatial gate
    (the order the paper found best). ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelGate(channels, reduction)
        self.spatial = SpatialAttention(channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


@register_attention("coord")
class CoordinateAttention(ContextPooling):
    """Coordinate attention (Hou et al. 2021): pool along x and along y, a shared 1x1 conv on the
    joined strips, then per-direction sigmoid weights. ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 32) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction, 8)
        self.shared = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.Hardswish()
        )
        self.to_h = nn.Conv2d(hidden, channels, 1)
        self.to_w = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.context_window is not None:
            # Each pixel's row / column window mean, (B, C, H, W) each. Inference only (eval):
            # the shared conv + BN act per pixel then, so applying it to each strip map
            # separately is what the joined strips get.
            gate_h = torch.sigmoid(self.to_h(self.shared(self.pool_mean(x, "w"))))
            gate_w = torch.sigmoid(self.to_w(self.shared(self.pool_mean(x, "h"))))
            return x * gate_h * gate_w
        h = x.shape[2]
        along_h = self.pool_mean(x, "w")  # (B, C, H, 1)
        along_w = self.pool_mean(x, "h").transpose(2, 3)  # (B, C, W, 1)
        joined = self.shared(torch.cat([along_h, along_w], dim=2))  # (B, hidden, H + W, 1)
        gate_h = torch.sigmoid(self.to_h(joined[:, :, :h]))  # (B, C, H, 1)
        gate_w = torch.sigmoid(self.to_w(joined[:, :, h:].transpose(2, 3)))  # (B, C, 1, W)
        return x * gate_h * gate_w


@register_attention("scse")
class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze-and-excitation (Roy et al. 2018): the sum of a
    channel-recalibrated and a pixel-recalibrated copy. ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.cse = SqueezeExcitation(channels, reduction)
        self.sse = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cse(x) + x * self.sse(x)
