"""Skip-connection fusions for U-shaped networks, chosen by name.

A fusion joins the encoder map ``E`` (``skip_channels``) and the up-sampled decoder map ``D``
(``channels``), both at the same resolution, and returns ``(fused, aux)``: ``fused`` has
``out_channels`` channels and feeds the decoder ConvBlock; ``aux`` is a ``(B, 1, H, W)``
deep-supervision logit map or ``None``.

Names: ``"concat"`` (U-Net), ``"none"`` (skip removed), ``"gate"`` (Attention U-Net's additive
gate, then concat), ``"caff"`` (CaFF, then concat; produces ``aux``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from vesselseg.errors import ConfigError
from vesselseg.models._checks import choose
from vesselseg.models.layers.caff import CaFF
from vesselseg.models.layers.gates import AttentionGate

Fused = tuple[torch.Tensor, "torch.Tensor | None"]


class ConcatFusion(nn.Module):
    """``concat([E, D])``: ``(B, Ce, H, W), (B, Cd, H, W) -> (B, Ce + Cd, H, W)``."""

    makes_aux = False

    def __init__(self, skip_channels: int, channels: int) -> None:
        super().__init__()
        self.out_channels = skip_channels + channels

    def forward(self, e: torch.Tensor, d: torch.Tensor) -> Fused:
        return torch.cat([e, d], dim=1), None


class NoSkip(nn.Module):
    """The skip connection removed: ``D`` passes alone, ``-> (B, Cd, H, W)``."""

    makes_aux = False

    def __init__(self, skip_channels: int, channels: int) -> None:
        super().__init__()
        self.out_channels = channels

    def forward(self, e: torch.Tensor, d: torch.Tensor) -> Fused:
        return d, None


class GateFusion(nn.Module):
    """``concat([gate(g=D, x=E), D])``: ``-> (B, Ce + Cd, H, W)``."""

    makes_aux = False

    def __init__(self, skip_channels: int, channels: int) -> None:
        super().__init__()
        self.gate = AttentionGate(channels, skip_channels)
        self.out_channels = skip_channels + channels

    def forward(self, e: torch.Tensor, d: torch.Tensor) -> Fused:
        return torch.cat([self.gate(d, e), d], dim=1), None


class CaFFFusion(nn.Module):
    """``concat([T, D])`` with ``T, M = CaFF(E, D)``; ``aux = M`` logits.
    ``-> (B, 2C, H, W)``, aux ``(B, 1, H, W)``. Needs ``skip_channels == channels``."""

    makes_aux = True

    def __init__(
        self, skip_channels: int, channels: int, mode: str = "paper", pool: str | None = None
    ) -> None:
        super().__init__()
        if skip_channels != channels:
            raise ConfigError(f"skip='caff' needs equal encoder/decoder channels, got "
                              f"{skip_channels} and {channels}")
        self.caff = CaFF(channels, mode=mode, pool=pool)
        self.out_channels = 2 * channels

    def forward(self, e: torch.Tensor, d: torch.Tensor) -> Fused:
        t, mask_logits = self.caff(e, d)
        return torch.cat([t, d], dim=1), mask_logits


FUSIONS: dict[str, Callable[..., nn.Module]] = {
    "concat": ConcatFusion,
    "none": NoSkip,
    "gate": GateFusion,
    "caff": CaFFFusion,
}


def make_fusion(name: str, skip_channels: int, channels: int, **options: object) -> nn.Module:
    """Build the fusion ``name``; ``options`` go to its constructor (e.g. CaFF's ``mode``)."""
    cls = choose(FUSIONS, name, "skip")
    return cls(skip_channels, channels, **options)
