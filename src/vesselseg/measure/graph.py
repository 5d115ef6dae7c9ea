"""The vessel skeleton as a graph: segments between junctions/ends, branch points, end points.

The skeleton comes from :func:`skimage.morphology.skeletonize`; its graph from skan (pixel
nodes with 8-connectivity). A *segment* is one skan path: a chain of skeleton pixels between two
nodes that are junctions or end points. Branch points are counted as connected clusters of
junction pixels (degree >= 3), because a junction drawn with a thick pixel knot produces several
adjacent junction pixels that are one anatomical branching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from vesselseg.errors import InputError

EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class VesselGraph:
    """Skeleton ``(H, W)`` bool, its segments' pixel paths (``(n, 2)`` row/col, ordered) and node counts."""

    skeleton: np.ndarray
    paths: list[np.ndarray]
    branch_points: int
    end_points: int


def skeletonise(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide centrelines of ``mask`` ``(H, W)`` (bool)."""
    from skimage.morphology import skeletonize

    return skeletonize(mask.astype(bool))


def vessel_graph(mask: np.ndarray, min_length: float = 0.0) -> VesselGraph:
    """Skeletonise ``mask`` and split the skeleton into segments.

    Args:
        mask: vessel mask ``(H, W)``.
        min_length: segments shorter than this (pixels of path) are dropped from the list
            (isolated specks); node counts are unaffected.
    """
    skel = skeletonise(mask)
    neighbours = ndi.convolve(skel.astype(np.uint8), EIGHT.astype(np.uint8), mode="constant") - 1
    isolated = skel & (neighbours == 0)
    if not (skel & ~isolated).any():
        # Only isolated pixels (or none): no segment to trace. skan cannot build a graph without
        # edges ("index pointer size 0"), so this case never reaches it.
        return VesselGraph(skel, [], 0, int(isolated.sum()))
    try:
        from skan import Skeleton
    except ImportError:  # skan (with numba, pandas) is an optional extra, not a core dependency
        raise InputError("vessel measurements need the measure extra: pip install 'vesselseg[measure]'") from None

    graph = Skeleton(skel)
    degrees = np.asarray(graph.degrees)
    coords = np.asarray(graph.coordinates).astype(int)
    junction = np.zeros(skel.shape, dtype=bool)
    jc = coords[degrees >= 3]
    junction[jc[:, 0], jc[:, 1]] = True
    _, n_branch = ndi.label(junction, structure=EIGHT)
    n_end = int((degrees == 1).sum())
    paths = []
    lengths = graph.path_lengths()
    for i in range(graph.n_paths):
        if lengths[i] >= min_length:
            paths.append(np.asarray(graph.path_coordinates(i), dtype=float))
    return VesselGraph(skel, paths, int(n_branch), n_end)
