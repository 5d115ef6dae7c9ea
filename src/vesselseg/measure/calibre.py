"""Vessel calibre (width) along the centreline, from the Euclidean distance transform.

At a centreline pixel of a vessel ``w`` pixels wide, the distance to the nearest background
pixel centre is ``(w + 1) / 2`` (odd ``w``), so the width estimate is ``2 d - 1``. Exact for
odd widths, one pixel low for even ones (a ±1 px resolution, the pixel grid's limit).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def width_map(mask: np.ndarray) -> np.ndarray:
    """Width estimate ``2 d - 1`` at every vessel pixel ``(H, W)`` (0 outside vessels)."""
    d = ndi.distance_transform_edt(mask.astype(bool))
    return np.where(mask, np.maximum(2.0 * d - 1.0, 1.0), 0.0).astype(np.float32)


def widths_along(widths: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Width values at the pixels of one centreline ``path`` ``(n, 2)``."""
    rc = np.rint(path).astype(int)
    return widths[rc[:, 0], rc[:, 1]]


def segment_width(widths: np.ndarray, path: np.ndarray, trim: int = 2) -> float:
    """Mean width of a segment, leaving out ``trim`` pixels at each end.

    At a junction the distance transform sees the union of the vessels (too wide) and at a
    free end the rounded tip (too narrow); short segments keep all their pixels.
    """
    w = widths_along(widths, path)
    if len(w) > 2 * trim + 2:
        w = w[trim:-trim]
    return float(w.mean())
