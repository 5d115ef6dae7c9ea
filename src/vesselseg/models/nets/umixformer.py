"""U-MixFormer (Yeom & von Klitzing 2023), a small variant for 48-px vessel patches.

The published model: a hierarchical transformer encoder (MiT, as in SegFormer) and a U-Net-like
transformer decoder whose stages run deepest first; decoder stage ``i``'s **mix-attention** takes
its queries from the lateral encoder map ``E_{5-i}`` and its keys/values from a mix of maps --
the encoder maps not yet decoded and the decoder outputs so far (``E1..E4``, then ``E1, E2, E3,
D4``, then ``E1, E2, D3, D4``, then ``E1, D2, D3, D4``), each pooled to one size and concatenated;
the decoder outputs are up-sampled to the finest one, concatenated, and an MLP predicts.

What differs here, and why:

- **Strides 1, 2, 2, 2** instead of MiT's 4, 2, 2, 2: the published model predicts at 1/4
  resolution and up-samples, which cannot draw DRIVE's 1-2 px capillaries; with stride 1 the
  finest map is the input's resolution and a 48-px patch gives maps of 48, 24, 12 and 6 px (MiT's
  strides would leave 12, 6, 3, 1.5).
- **Small widths** (16, 32, 64, 128; decoder 32 with a 2x feed-forward; one block per stage) so
  the network is of the size of the others in Table 1 (0.65 M parameters; the published ones have
  3.7 M and more): the decoder runs at the input's full resolution, where a 64-wide decoder with
  the 4x feed-forward tripled the training step.
- Keys/values pooled to the **coarsest encoder map's size** (6x6 for a 48-px patch): 4 x 36 = 144
  tokens per decoder stage, the efficient reading of the paper's pooled mix.
- No ImageNet pre-training (nothing can be downloaded on the project machines).

Whole images: attention over a whole photograph is quadratic in its size (a 565x584 DRIVE image
at stride 1 would need ~7 G attention weights per head), so inference runs in tiles of at most
:attr:`UMixFormer.inference_tile` pixels (``Segmenter`` honours it).

``forward``: ``(B, in_channels, H, W) -> {"logits": (B, 1, H, W), "aux": []}``, any H, W (padded
to a multiple of 8).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vesselseg.models._checks import positive_int
from vesselseg.models.layers.transformer import MiTBlock, MixAttentionBlock, OverlapPatchEmbed
from vesselseg.models.nets.base import SegmentationModel
from vesselseg.models.registry import register_model


class UMixFormer(SegmentationModel):
    """See the module docstring. ``widths``/``heads``/``reductions``/``depths``: per encoder stage."""

    size_multiple = 8
    #: largest side of one whole-image pass (tiles above it): keeps attention memory bounded
    inference_tile = 256

    def __init__(self, in_channels: int = 1, widths=(16, 32, 64, 128), heads=(1, 2, 4, 8),
                 reductions=(8, 4, 2, 1), depths=(1, 1, 1, 1), decoder_width: int = 32,
                 decoder_heads: int = 2) -> None:
        super().__init__(in_channels)
        stages = len(widths)
        if not (len(heads) == len(reductions) == len(depths) == stages == 4):
            raise ValueError("widths, heads, reductions and depths need one entry per stage (4)")
        widths = [positive_int(w, "widths") for w in widths]
        strides = (1, 2, 2, 2)
        self.embeds = nn.ModuleList(
            OverlapPatchEmbed(in_channels if i == 0 else widths[i - 1], widths[i], strides[i]) for i in range(4)
        )
        depths = [positive_int(n, "depths") for n in depths]
        self.stages = nn.ModuleList(
            nn.Sequential(*(MiTBlock(widths[i], heads[i], reductions[i]) for _ in range(depths[i]))) for i in range(4)
        )
        d = positive_int(decoder_width, "decoder_width")
        # decoder step s projects the encoder maps still in its mix (levels 0 .. 3 - s; its query is
        # the last of them) to the decoder width; decoded levels enter the mix as they are
        self.project = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(widths[j], d, 1) for j in range(4 - s)) for s in range(4)
        )
        self.decoders = nn.ModuleList(MixAttentionBlock(d, decoder_heads) for _ in range(4))
        self.head = nn.Sequential(nn.Conv2d(4 * d, d, 1), nn.GELU(), nn.Conv2d(d, 1, 1))

    def forward_padded(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        encoded = []
        for embed, stage in zip(self.embeds, self.stages, strict=True):
            x = stage(embed(x))
            encoded.append(x)
        decoded: dict[int, torch.Tensor] = {}
        for step, level in enumerate(range(3, -1, -1)):  # queries from E4, E3, E2, E1
            proj = self.project[step]
            # level j is 2^j times finer than the coarsest: pooled by 2^(3-j) to its size
            maps = [decoded[j] if j in decoded else proj[j](encoded[j]) for j in range(4)]
            mix = [(m, 2 ** (3 - j)) for j, m in enumerate(maps)]
            decoded[level] = self.decoders[step](maps[level], mix)  # the query: the projected lateral map
        size = encoded[0].shape[-2:]
        fused = torch.cat([F.interpolate(decoded[j], size=size, mode="bilinear", align_corners=False)
                           if decoded[j].shape[-2:] != size else decoded[j] for j in range(4)], dim=1)
        return self.head(fused), []


@register_model("umixformer")
def umixformer(in_channels: int = 1, decoder_width: int = 32, depths: tuple = (1, 1, 1, 1)) -> UMixFormer:
    """U-MixFormer for 48-px patches: MiT encoder (widths 16..128, strides 1, 2, 2, 2), mix-attention
    decoder (width 32); see :mod:`vesselseg.models.nets.umixformer`."""
    return UMixFormer(in_channels=in_channels, decoder_width=decoder_width, depths=tuple(depths))
