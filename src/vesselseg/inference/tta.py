"""Test-time augmentation by flips: average the predictions of flipped copies, flipped back."""

from __future__ import annotations

from typing import Callable

import torch

#: Flip axes of an ``(B, C, H, W)`` tensor: identity, horizontal (W axis), vertical (H axis).
FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,))


def flip_average(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, flips=FLIPS) -> torch.Tensor:
    """``mean_f  f⁻¹(fn(f(x)))`` over the flips ``f`` (a flip is its own inverse).

    ``fn`` maps ``(B, C, H, W)`` to ``(B, 1, H, W)`` probabilities; so does the result.
    """
    total = None
    for dims in flips:
        y = fn(torch.flip(x, dims) if dims else x)
        y = torch.flip(y, dims) if dims else y
        total = y if total is None else total + y
    return total / len(flips)
