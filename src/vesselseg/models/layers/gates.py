"""Additive attention gate of Attention U-Net (Oktay et al. 2018)."""

from __future__ import annotations

import torch
import torch.nn as nn


class AttentionGate(nn.Module):
    """Additive attention gate: ``alpha = sigmoid(psi(relu(W_g g + W_x x)))``, output
    ``x * alpha``.

    ``g`` is the gating signal (the up-sampled decoder map) and ``x`` the skip feature, at the
    same resolution (the widely used variant; the original computes ``W_x x`` with stride 2 and
    up-samples ``alpha``). ``W_g``, ``W_x`` and ``psi`` are 1x1 convolutions followed by BN.

    ``forward(g, x)``: ``(B, Cg, H, W), (B, Cx, H, W) -> (B, Cx, H, W)``.
    """

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int | None = None):
        super().__init__()
        inter = inter_channels or max(1, skip_channels // 2)
        # No conv bias before a BatchNorm: BN subtracts the batch mean, so such a bias never
        # learns (its gradient is zero up to rounding) and only adds parameters.
        self.w_g = nn.Sequential(nn.Conv2d(gate_channels, inter, 1, bias=False), nn.BatchNorm2d(inter))
        self.w_x = nn.Sequential(nn.Conv2d(skip_channels, inter, 1, bias=False), nn.BatchNorm2d(inter))
        self.psi = nn.Sequential(nn.Conv2d(inter, 1, 1, bias=False), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        alpha = self.psi(torch.relu(self.w_g(g) + self.w_x(x)))  # (B, 1, H, W)
        return x * alpha
