"""Transformer parts for U-shaped nets: SegFormer's Mix Transformer (MiT) blocks and U-MixFormer's
mix-attention.

All modules work on feature maps ``(B, C, H, W)`` and flatten to tokens internally; attention is
PyTorch's ``scaled_dot_product_attention`` (memory-efficient kernels on CPU and GPU).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W) -> (B, H W, C)``."""
    return x.flatten(2).transpose(1, 2)


def _map(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(B, H W, C) -> (B, C, H, W)``."""
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)


class OverlapPatchEmbed(nn.Module):
    """Overlapping patch embedding (MiT): a ``k x k`` convolution with ``stride`` and a LayerNorm.
    ``(B, Cin, H, W) -> (B, Cout, ceil(H / stride), ceil(W / stride))``."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        k = 2 * stride + 1 if stride > 1 else 3
        self.proj = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
        self.norm = nn.LayerNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return _map(self.norm(_tokens(x)), h, w)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention of queries ``(B, N, C)`` over keys/values ``(B, M, C)``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        b, n, c = q.shape
        h = self.heads
        q = self.q(q).reshape(b, n, h, c // h).transpose(1, 2)
        k, v = self.kv(kv).reshape(b, kv.shape[1], 2, h, c // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, C/h)
        return self.out(out.transpose(1, 2).reshape(b, n, c))


class EfficientSelfAttention(nn.Module):
    """MiT's self-attention with spatial reduction: keys and values come from the map shrunk by a
    ``reduction x reduction`` strided convolution (N tokens attend to N / reduction^2).
    ``(B, C, H, W) -> (B, H W, C)`` (tokens)."""

    def __init__(self, dim: int, heads: int, reduction: int) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(dim, heads)
        self.reduce = nn.Conv2d(dim, dim, reduction, stride=reduction) if reduction > 1 else nn.Identity()
        self.norm = nn.LayerNorm(dim) if reduction > 1 else nn.Identity()

    def forward(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = _map(tokens, h, w)
        kv = self.norm(_tokens(self.reduce(x))) if not isinstance(self.reduce, nn.Identity) else tokens
        return self.attn(tokens, kv)


class MixFFN(nn.Module):
    """MiT's feed-forward: linear, 3x3 depthwise convolution (positional cue), GELU, linear.
    ``(B, N, C) -> (B, N, C)``."""

    def __init__(self, dim: int, expansion: int = 4) -> None:
        super().__init__()
        hidden = dim * expansion
        self.fc1 = nn.Linear(dim, hidden)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(tokens)
        x = _tokens(self.dw(_map(x, h, w)))
        return self.fc2(F.gelu(x))


class MiTBlock(nn.Module):
    """Pre-norm transformer block: efficient self-attention then Mix-FFN, each residual.
    ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, dim: int, heads: int, reduction: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = EfficientSelfAttention(dim, heads, reduction)
        self.ffn = MixFFN(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        t = _tokens(x)
        t = t + self.attn(self.norm1(t), h, w)
        t = t + self.ffn(self.norm2(t), h, w)
        return _map(t, h, w)


class MixAttentionBlock(nn.Module):
    """U-MixFormer's decoder block: queries from one lateral encoder map, keys and values from a
    *mix* of maps (encoder maps and earlier decoder outputs), each average-pooled by its own factor
    to one common size and concatenated along the token axis; then a Mix-FFN. ``query (B, C, H, W)``,
    ``mix`` a list of ``((B, C, H_j, W_j), factor_j)`` with ``H_j / factor_j`` alike -> ``(B, C, H, W)``.
    (Fixed factors rather than an adaptive pool to a size: the size would be dynamic, which ONNX
    export cannot take.)"""

    def __init__(self, dim: int, heads: int, expansion: int = 2) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.ffn = MixFFN(dim, expansion)

    def forward(self, query: torch.Tensor, mix: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        h, w = query.shape[-2:]
        kv = torch.cat([_tokens(F.avg_pool2d(m, f) if f > 1 else m) for m, f in mix], dim=1)
        t = _tokens(query)
        t = t + self.attn(self.norm_q(t), self.norm_kv(kv))
        t = t + self.ffn(self.norm2(t), h, w)
        return _map(t, h, w)
