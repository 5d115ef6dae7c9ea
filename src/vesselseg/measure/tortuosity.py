"""Tortuosity of one segment: arc/chord ratio and a curvature-based index.

Pixel chains overstate length (an 8-connected staircase along a 22.5 degree line is ~8 % too
long), so both measures use the centreline smoothed with a Gaussian of ``sigma`` pixels along
its length: arc length and curvature are then those of a smooth curve through the pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

SIGMA = 2.0


def smooth_path(path: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Gaussian-smoothed ``(n, 2)`` coordinates; end points are kept in place."""
    if len(path) < 5 or sigma <= 0:
        return path.astype(float)
    out = ndi.gaussian_filter1d(path.astype(float), sigma, axis=0, mode="nearest")
    out[0], out[-1] = path[0], path[-1]
    return out


def arc_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def arc_chord(path: np.ndarray, sigma: float = SIGMA) -> float:
    """Arc length / chord length of the smoothed centreline (1 for a straight segment).

    Undefined (``nan``) for a closed loop or a segment of fewer than 2 pixels.
    """
    p = smooth_path(path, sigma)
    chord = float(np.linalg.norm(p[-1] - p[0]))
    if len(p) < 2 or chord < 1.0:
        return float("nan")
    return arc_length(p) / chord


def mean_curvature(path: np.ndarray, sigma: float = SIGMA) -> float:
    """Total absolute turning angle / arc length (radians per pixel) of the smoothed centreline.

    0 for a straight segment; a circle of radius ``r`` gives ``1 / r``.
    """
    p = smooth_path(path, sigma)
    steps = np.diff(p, axis=0)
    steps = steps[np.linalg.norm(steps, axis=1) > 1e-9]
    if len(steps) < 2:
        return 0.0
    angles = np.unwrap(np.arctan2(steps[:, 0], steps[:, 1]))
    length = arc_length(p)
    return float(np.abs(np.diff(angles)).sum() / length) if length > 0 else 0.0
