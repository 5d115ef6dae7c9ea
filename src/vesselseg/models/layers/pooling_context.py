"""Global pooling that inference can make local: the "pooling context" of a module.

SE, CBAM's channel gate, scSE's channel half and coordinate attention summarise a map by its
mean (or max) over the whole map or over whole rows/columns; so do DBPF's strips. Trained on
48x48 patches, "the whole map" is a patch; on a whole 999x960 photograph it is mostly dark
background, a context the network never saw (whole-image inference lost 0.02 F1 with DBPF and
0.06 with CBAM on CHASE_DB1 against sliding windows). :func:`set_pooling_context` makes every
such module pool over a window centred on each pixel, as large as the training patch was at
that module's resolution, instead; ``None`` restores the training behaviour.

A module takes part by subclassing :class:`ContextPooling` and pooling through
:meth:`ContextPooling.pool_mean` / :meth:`ContextPooling.pool_max`; the network that holds it
states its resolution with :func:`set_input_stride`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

#: which axes a pool summarises: the whole map, along x (one value per row), along y
_AXES = {"hw": (2, 3), "w": (3,), "h": (2,)}


class ContextPooling(nn.Module):
    """Base of modules with a global pooling (see the module docstring).

    ``context_window``: ``None`` pools over all of the map / whole rows or columns (training, and
    what the published modules do); an odd ``L`` pools over the ``L`` (or ``L x L``) pixels centred
    on each pixel, fewer at the border. ``input_stride``: network-input pixels per pixel of this
    module's input; ``pooled_stride``: how much smaller the pooled map is than that input (DBPF
    pools after its 2x2 step: 2).
    """

    pooled_stride = 1
    #: False for a module that has no global pooling in its current configuration (CaFF's
    #: ``paper`` mode): :func:`set_pooling_context` then leaves it out.
    uses_context = True

    def __init__(self) -> None:
        super().__init__()
        self.context_window: int | None = None
        self.input_stride = 1

    def pool_mean(self, x: torch.Tensor, axes: str = "hw") -> torch.Tensor:
        """Mean of ``x`` ``(B, C, H, W)`` over ``axes`` (``"hw"``, ``"w"``: along x, ``"h"``: along y):
        kept dims of size 1 globally, ``(B, C, H, W)`` with a context window."""
        n = self.context_window
        if n is None:
            return x.mean(dim=_AXES[axes], keepdim=True)
        # Separable 1xL then Lx1 average pools: exact, because a border-clipped rectangle holds
        # (pixels in its row span) x (pixels in its column span), and L x cheaper than an LxL pool.
        if "w" in axes:
            x = F.avg_pool2d(x, (1, n), stride=1, padding=(0, n // 2), count_include_pad=False)
        if "h" in axes:
            x = F.avg_pool2d(x, (n, 1), stride=1, padding=(n // 2, 0), count_include_pad=False)
        return x

    def pool_max(self, x: torch.Tensor) -> torch.Tensor:
        """Max of ``x`` ``(B, C, H, W)`` over the map: ``(B, C, 1, 1)``, or ``(B, C, H, W)`` over
        each pixel's window (separable, exact: a rectangle's max is the max of its rows' maxima)."""
        n = self.context_window
        if n is None:
            return x.amax(dim=(2, 3), keepdim=True)
        x = F.max_pool2d(x, (1, n), stride=1, padding=(0, n // 2))
        return F.max_pool2d(x, (n, 1), stride=1, padding=(n // 2, 0))

    def extra_repr(self) -> str:
        return f"context_window={self.context_window}" if self.context_window else ""


def set_input_stride(module: nn.Module, stride: int) -> None:
    """Tell every :class:`ContextPooling` inside ``module`` that its input has ``stride``
    network-input pixels per pixel (what a network knows about the levels of its blocks)."""
    for m in module.modules():
        if isinstance(m, ContextPooling):
            m.input_stride = stride


def set_pooling_context(model: nn.Module, patch: int | None) -> int:
    """Make every :class:`ContextPooling` in ``model`` pool over what a ``patch``-pixel training
    patch gave it (``None``: the whole map, the training behaviour). Returns how many there are.

    A module pooling a map of ``s`` network pixels per pixel saw ``patch / s`` pixels per side in
    training; the window is that, made odd so it is centred (48 -> 49, 24 -> 25, 12 -> 13, 6 -> 7).
    """
    found = 0
    for m in model.modules():
        if isinstance(m, ContextPooling) and m.uses_context:
            found += 1
            stride = m.input_stride * m.pooled_stride
            m.context_window = None if patch is None else max(1, int(patch) // stride) | 1
    return found
