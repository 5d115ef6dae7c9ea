"""All measures of one vessel mask: density, length, graph counts, calibre, tortuosity, fractal dimension.

Defined answers for degenerate masks (documented in docs/measurements.md): an empty mask has density 0,
length 0, no segments, and *undefined* calibre/tortuosity/fractal dimension (``None`` in JSON,
blank in CSV) with a note saying so; a mask filling more than half of its FOV is measured but
noted as unlikely to be a vessel map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vesselseg.errors import InputError
from vesselseg.measure.calibre import segment_width, width_map
from vesselseg.measure.fractal import fractal_dimension
from vesselseg.measure.graph import vessel_graph
from vesselseg.measure.tortuosity import arc_chord, arc_length, mean_curvature, smooth_path
from vesselseg.measure.zones import zone_b

#: Columns of the per-image table, in order.
COLUMNS = (
    "image", "fov_source", "fov_pixels", "vessel_pixels", "density",
    "length_px", "length_mm", "segments", "branch_points", "end_points",
    "width_mean_px", "width_median_px", "width_p90_px", "width_mean_um",
    "tortuosity_arc_chord", "curvature_rad_per_px", "fractal_dimension", "fractal_r2", "note",
)


@dataclass
class Measurements:
    """``summary``: one table row (``COLUMNS``); ``segments``: per-segment records; plus arrays."""

    summary: dict
    segments: list[dict] = field(default_factory=list)
    width_histogram: dict = field(default_factory=dict)
    skeleton: np.ndarray | None = None
    widths: np.ndarray | None = None
    #: Artery/vein inputs with a disc: one record per vessel crossing zone B (measure.biomarkers).
    zone_vessels: list[dict] = field(default_factory=list)


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _weighted(values: list[float], weights: list[float]) -> float:
    v, w = np.asarray(values, float), np.asarray(weights, float)
    ok = np.isfinite(v) & (w > 0)
    return float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")


def measure_mask(mask: np.ndarray, fov: np.ndarray | None = None, pixel_size_um: float | None = None,
                 name: str = "", fov_source: str | None = None, min_segment: float = 0.0) -> Measurements:
    """Measure a vessel mask ``(H, W)`` inside ``fov`` (default: the whole frame).

    Args:
        mask: vessel mask; non-bool arrays are read as ``> 0``.
        fov: field of view ``(H, W)``; vessels outside it are ignored.
        pixel_size_um: pixel size in micrometres, for ``length_mm`` and ``width_mean_um``.
        min_segment: drop segments shorter than this many pixels from the per-segment list
            and the tortuosity summary (isolated specks).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"{name or 'mask'}: expected a 2-D mask, got shape {mask.shape}")
    mask = mask > 0
    if fov is None:
        fov = np.ones(mask.shape, dtype=bool)
        fov_source = fov_source or "frame"
    elif fov.shape != mask.shape:
        raise InputError(f"{name or 'mask'}: FOV is {fov.shape[1]}x{fov.shape[0]} but the mask is "
                         f"{mask.shape[1]}x{mask.shape[0]}")
    if not fov.any():
        raise InputError(f"{name or 'mask'}: the FOV mask is empty (all zero)")
    mask = mask & fov
    notes = []
    fov_px, vessel_px = int(fov.sum()), int(mask.sum())
    density = vessel_px / fov_px
    row = {"image": name, "fov_source": fov_source or "given", "fov_pixels": fov_px, "vessel_pixels": vessel_px,
           "density": density}
    if vessel_px == 0:
        notes.append("no vessel pixels: calibre, tortuosity and fractal dimension are undefined")
    elif density > 0.5:
        notes.append(f"vessels cover {100 * density:.0f}% of the FOV: probably not a vessel mask")

    widths = width_map(mask)
    graph = vessel_graph(mask)
    segments, lengths, ac, curv = [], [], [], []
    path_lengths = [arc_length(smooth_path(p)) for p in graph.paths]
    for i, (path, length) in enumerate(zip(graph.paths, path_lengths)):
        if length < min_segment:
            continue
        seg = {"id": i, "length_px": length, "chord_px": float(np.linalg.norm(path[-1] - path[0])),
               "arc_chord": _nan_to_none(arc_chord(path)), "curvature_rad_per_px": mean_curvature(path),
               "width_mean_px": segment_width(widths, path),
               "start_rc": [int(v) for v in path[0]], "end_rc": [int(v) for v in path[-1]]}
        segments.append(seg)
        lengths.append(length)
        ac.append(arc_chord(path))
        curv.append(seg["curvature_rad_per_px"])
    skel_widths = widths[graph.skeleton]
    length_px = float(sum(path_lengths))
    row.update({
        "length_px": length_px,
        "length_mm": length_px * pixel_size_um / 1000.0 if pixel_size_um else None,
        "segments": len(segments), "branch_points": graph.branch_points, "end_points": graph.end_points,
        "width_mean_px": float(skel_widths.mean()) if skel_widths.size else None,
        "width_median_px": float(np.median(skel_widths)) if skel_widths.size else None,
        "width_p90_px": float(np.percentile(skel_widths, 90)) if skel_widths.size else None,
    })
    row["width_mean_um"] = row["width_mean_px"] * pixel_size_um if (pixel_size_um and row["width_mean_px"]) else None
    if vessel_px and not segments:
        notes.append("no vessel segment, only isolated specks: length is 0, tortuosity undefined")
    row["tortuosity_arc_chord"] = _nan_to_none(_weighted(ac, lengths))
    row["curvature_rad_per_px"] = _nan_to_none(_weighted(curv, lengths))
    fd, r2 = fractal_dimension(mask)
    row["fractal_dimension"], row["fractal_r2"] = _nan_to_none(fd), _nan_to_none(r2)
    row["note"] = "; ".join(notes)
    hist = {}
    if skel_widths.size:
        edges = np.arange(0.5, max(2.5, float(skel_widths.max()) + 1.5), 1.0)
        counts, _ = np.histogram(skel_widths, bins=edges)
        hist = {"bin_centres_px": [float(c) for c in (edges[:-1] + 0.5)], "counts": [int(c) for c in counts]}
    return Measurements(summary=row, segments=segments, width_histogram=hist, skeleton=graph.skeleton,
                        widths=widths)


#: Columns repeated for zone B (prefixed ``zoneB_``) when a disc is given.
ZONE_COLUMNS = ("density", "length_px", "segments", "width_mean_px", "width_median_px", "tortuosity_arc_chord",
                "curvature_rad_per_px")


def measure_zone_b(mask: np.ndarray, fov: np.ndarray | None, centre_xy, disc_radius: float,
                   pixel_size_um: float | None = None) -> dict:
    """The :data:`ZONE_COLUMNS` measured inside zone B (and the FOV), keys prefixed ``zoneB_``."""
    ring = zone_b(mask.shape, centre_xy, disc_radius)
    region = ring if fov is None else ring & fov
    if not region.any():
        raise InputError("zone B (2-3 disc radii around the given disc centre) lies outside the FOV")
    m = measure_mask(mask, region, pixel_size_um)
    return {f"zoneB_{k}": m.summary[k] for k in ZONE_COLUMNS}
