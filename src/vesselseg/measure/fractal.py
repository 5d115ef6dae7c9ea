"""Box-counting (Minkowski-Bouligand) fractal dimension of a binary mask."""

from __future__ import annotations

import numpy as np


def box_counts(mask: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Number of ``s x s`` boxes (grid anchored at the top-left) holding a foreground pixel."""
    counts = []
    for s in sizes:
        h = -(-mask.shape[0] // s) * s
        w = -(-mask.shape[1] // s) * s
        padded = np.zeros((h, w), dtype=bool)
        padded[: mask.shape[0], : mask.shape[1]] = mask
        blocks = padded.reshape(h // s, s, w // s, s).any(axis=(1, 3))
        counts.append(int(blocks.sum()))
    return np.asarray(counts)


def fractal_dimension(mask: np.ndarray, min_box: int = 2, max_box: int | None = None) -> tuple[float, float]:
    """``(D, R²)``: slope of ``log N(s)`` against ``log(1/s)`` over box sizes ``2^k``, and the fit's R².

    Box sizes run from ``min_box`` to ``max_box`` (default: a quarter of the shorter image side),
    so the smallest boxes see the vessels' pixel structure and the largest still number at
    least 16. ``(nan, nan)`` for an empty mask (no structure to measure).
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return float("nan"), float("nan")
    top = max_box or max(min_box * 2, min(mask.shape) // 4)
    sizes = [2**k for k in range(int(np.log2(min_box)), int(np.log2(top)) + 1)]
    if len(sizes) < 3:
        return float("nan"), float("nan")
    counts = box_counts(mask, sizes)
    if np.all(counts == counts[0]):
        return 0.0, float("nan")  # isolated points: N(s) is constant, dimension 0, no fit to judge
    x, y = np.log(1.0 / np.asarray(sizes, float)), np.log(counts.astype(float))
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return float(slope), r2
