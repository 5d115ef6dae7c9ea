"""What every network shares: the output contract, input checks, padding and cropping.

Contract: ``forward(x)`` takes ``(B, in_channels, H, W)`` float, any ``H, W >= 1``, and returns
``{"logits": (B, 1, H, W), "aux": [(B, 1, ceil(H / s_k), ceil(W / s_k)), ...]}`` -- pre-sigmoid
logits; ``aux`` holds the deep-supervision logits finest first (``s_k = aux_strides[k]``), empty
for networks without deep supervision. The structure is the same in train and eval mode.

Inputs are padded at the bottom and right, in ``"replicate"`` mode (edge pixels repeated, works
for any size, exports to ONNX as ``Pad(mode="edge")``), to a multiple of ``size_multiple``; the
outputs are cropped back, each ``aux`` map to the part covering the unpadded input.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vesselseg.models._checks import positive_int


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right so that H and W divide by ``multiple``."""
    if multiple == 1:
        return x
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class SegmentationModel(nn.Module):
    """Base class: subclasses set ``size_multiple`` and ``aux_strides`` and implement
    :meth:`forward_padded`."""

    #: True when ``aux`` is non-empty.
    deep_supervision: bool = False
    #: H and W are padded to a multiple of this before :meth:`forward_padded`.
    size_multiple: int = 1
    #: down-sampling factor of each ``aux`` map relative to the input, finest first.
    aux_strides: tuple[int, ...] = ()

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")

    def forward_padded(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, C, H', W')`` with ``H', W'`` multiples of ``size_multiple`` ->
        ``(logits (B, 1, H', W'), aux list)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """``(B, in_channels, H, W)`` float -> ``{"logits": (B, 1, H, W), "aux": [...]}``,
        pre-sigmoid; see the module docstring."""
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != self.in_channels):
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        logits, aux = self.forward_padded(pad_to_multiple(x, self.size_multiple))
        # ceil(h / s) written with non-negative operands: ONNX integer Div truncates toward 0,
        # so the exported graph would get -(-h // s) wrong
        cropped = [
            a[..., : (h + s - 1) // s, : (w + s - 1) // s]
            for a, s in zip(aux, self.aux_strides, strict=True)
        ]
        return {"logits": logits[..., :h, :w], "aux": cropped}
