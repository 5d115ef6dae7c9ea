"""Flips and 90° rotations (the dihedral group D4), applied to whole batches at once.

Transform ``k`` in ``0..7``: rotate by ``k % 4`` quarter turns, then flip horizontally if
``k >= 4``. Together they are the identity, the three rotations, and the horizontal/vertical and
two diagonal flips -- exactly the paper's flips and 90/180/270° rotations, and their compositions.
"""

from __future__ import annotations

import torch

DIHEDRAL = tuple(range(8))


def _one(x: torch.Tensor, k: int) -> torch.Tensor:
    x = torch.rot90(x, k % 4, dims=(-2, -1)) if k % 4 else x
    return torch.flip(x, dims=(-1,)) if k >= 4 else x


def apply_dihedral(x: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:
    """Apply transform ``ks[i]`` to ``x[i]``.

    Args:
        x: ``(B, C, S, S)`` (square patches: rotations keep the shape).
        ks: ``(B,)`` integer transform ids in ``0..7``.

    Returns:
        ``(B, C, S, S)``. Each of the 8 transforms runs once on its sub-batch (8 vectorised ops,
        not B Python-level ones).
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError("dihedral augmentation needs square patches")
    out = torch.empty_like(x)
    for k in range(8):
        idx = (ks == k).nonzero(as_tuple=True)[0]
        if idx.numel():
            out[idx] = _one(x[idx], k)
    return out
