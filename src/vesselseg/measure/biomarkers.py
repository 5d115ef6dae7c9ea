"""Calibre biomarkers from an artery/vein map and the optic disc: CRAE, CRVE and AVR.

The central retinal artery / vein equivalents summarise the calibre of the vessels that cross
zone B (2-3 disc radii from the disc centre, :mod:`vesselseg.measure.zones`):

1. every artery and every vein crossing zone B is found on its class mask (crossing pixels count
   for both classes), and its calibre measured as the median width along its centreline inside
   the zone (widths from the distance transform of the whole class mask, :mod:`.calibre`); where a
   vessel branches inside the zone, its widest piece -- the trunk -- gives the calibre, as graders
   measure the trunk;
2. **Knudtson et al. 2003** (revised formulas, as in IVAN, AutoMorph, VascX): the six widest of a
   class, sorted; the largest is paired with the smallest, the second largest with the second
   smallest, ..., each pair combined by ``W = 0.88 sqrt(w1^2 + w2^2)`` (arteries) or
   ``W = 0.95 sqrt(w1^2 + w2^2)`` (veins); with an odd count the middle one is carried to the next
   round unchanged; repeat until one value remains: CRAE / CRVE;
3. **Parr-Hubbard** (Parr 1974, Hubbard et al. 1999), with the same six-widest pairing (as
   AutoMorph implements it): arteries ``W = sqrt(0.87 wa^2 + 1.01 wb^2 - 0.22 wa wb - 10.76)``,
   veins ``W = sqrt(0.72 wa^2 + 0.91 wb^2 + 450.05)``, ``wa`` the narrower and ``wb`` the wider of
   the pair, in micrometres (the constants carry units, so these need µm, not pixels);
4. AVR = CRAE / CRVE (unitless).

Micrometres per pixel come from ``pixel_size_um`` when given; otherwise they are estimated from
the disc, taking its diameter as :data:`DISC_DIAMETER_UM` (1,800 µm, the usual assumption), and
the ``um_per_px_source`` column says which. Knudtson's AVR does not depend on the scale;
Parr-Hubbard's does (its additive constants).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from vesselseg.errors import InputError
from vesselseg.io.av import ARTERY, CROSSING, VEIN
from vesselseg.measure.calibre import width_map
from vesselseg.measure.graph import EIGHT, skeletonise
from vesselseg.measure.measurements import measure_mask
from vesselseg.measure.zones import zone_mask

#: Disc diameter assumed when no pixel size is given (µm): the usual figure in the calibre
#: literature (about 1.8 mm; individual discs range 1.2-2.5 mm, so absolute µm carry that spread).
DISC_DIAMETER_UM = 1800.0
#: How many of the widest vessels of each class the revised formulas combine.
WIDEST = 6
KINDS = ("artery", "vein")


@dataclass
class ZoneVessel:
    """One vessel crossing zone B: its class, calibre (pixels) and where it crosses."""

    kind: str
    calibre_px: float
    length_px: float
    x: float
    y: float
    calibre_um: float | None = None


# --- the summary formulas -------------------------------------------------------------------------

def _pairwise(widths: Sequence[float], combine: Callable[[float, float], float], widest: int = WIDEST) -> float | None:
    """Reduce ``widths`` to one equivalent by the largest-with-smallest pairing of Knudtson et al."""
    w = sorted((float(x) for x in widths if x is not None and math.isfinite(x)), reverse=True)[:widest]
    if not w:
        return None
    while len(w) > 1:
        w.sort(reverse=True)
        n = len(w)
        paired = [combine(w[n - 1 - i], w[i]) for i in range(n // 2)]  # (narrower, wider)
        if n % 2:
            paired.append(w[n // 2])  # the middle one is carried over unchanged
        w = paired
    return w[0]


def knudtson(widths: Sequence[float], kind: str, widest: int = WIDEST) -> float | None:
    """Knudtson 2003 revised central retinal equivalent of ``widths`` (any unit; same unit out)."""
    k = {"artery": 0.88, "vein": 0.95}[kind]
    return _pairwise(widths, lambda a, b: k * math.hypot(a, b), widest)


def parr_hubbard(widths_um: Sequence[float], kind: str, widest: int = WIDEST) -> float | None:
    """Parr-Hubbard central retinal equivalent of ``widths_um`` (micrometres in, micrometres out)."""
    if kind == "artery":
        def combine(a: float, b: float) -> float:
            return math.sqrt(max(0.87 * a * a + 1.01 * b * b - 0.22 * a * b - 10.76, 0.0))
    elif kind == "vein":
        def combine(a: float, b: float) -> float:
            return math.sqrt(0.72 * a * a + 0.91 * b * b + 450.05)
    else:
        raise ValueError(kind)
    return _pairwise(widths_um, combine, widest)


# --- vessels crossing zone B ---------------------------------------------------------------------

def class_masks(classes: np.ndarray) -> dict[str, np.ndarray]:
    """Artery and vein masks of an A/V class map (:mod:`vesselseg.io.av`); crossings are both."""
    return {"artery": (classes == ARTERY) | (classes == CROSSING), "vein": (classes == VEIN) | (classes == CROSSING)}


def zone_vessels(mask: np.ndarray, kind: str, centre_xy: tuple[float, float], disc_radius: float,
                 fov: np.ndarray | None = None) -> list[ZoneVessel]:
    """The vessels of one class mask ``(H, W)`` that cross zone B, each with its calibre in pixels.

    A vessel is a connected piece of the class's centreline inside zone B (and the FOV); pieces
    shorter than a quarter of the zone's width are fragments (a vessel grazing the ring) and are
    left out. Junction pixels (and 2 px around them) are not sampled: there the distance transform
    sees the union of the branches.
    """
    mask = np.asarray(mask, bool)
    ring = zone_mask(mask.shape, centre_xy, disc_radius, "B")
    if fov is not None:
        ring &= fov
    if not mask.any() or not ring.any():
        return []
    widths = width_map(mask)
    skel = skeletonise(mask)
    neighbours = ndi.convolve(skel.astype(np.uint8), EIGHT.astype(np.uint8), mode="constant") - 1
    junction = ndi.binary_dilation(skel & (neighbours >= 3), structure=EIGHT, iterations=2)
    in_zone = skel & ring
    components, n = ndi.label(in_zone, structure=EIGHT)
    min_length = max(5.0, 0.25 * disc_radius)
    vessels = []
    for label in range(1, n + 1):
        comp = components == label
        if comp.sum() < min_length:
            continue
        # Pieces between junctions: the trunk is the widest piece long enough to measure.
        pieces, m = ndi.label(comp & ~junction, structure=EIGHT)
        best = None
        for p in range(1, m + 1):
            piece = pieces == p
            if piece.sum() < min(min_length, 5):
                continue
            calibre = float(np.median(widths[piece]))
            if best is None or calibre > best:
                best = calibre
        if best is None:  # a knot of junctions only: take the whole piece
            best = float(np.median(widths[comp]))
        rows, cols = np.nonzero(comp)
        vessels.append(ZoneVessel(kind, best, float(comp.sum()), float(cols.mean()), float(rows.mean())))
    return vessels


# --- one image ----------------------------------------------------------------------------------

#: Biomarker columns of the per-image table, in order (after the disc columns).
BIOMARKER_COLUMNS = (
    "disc_x", "disc_y", "disc_radius_px", "disc_source", "um_per_px", "um_per_px_source",
    "zoneB_arteries", "zoneB_veins",
    "crae_knudtson_um", "crve_knudtson_um", "avr_knudtson",
    "crae_hubbard_um", "crve_hubbard_um", "avr_hubbard",
)
#: Per-class measures (prefixed ``artery_`` / ``vein_``; the zone versions ``zoneB_artery_`` ...).
CLASS_MEASURES = ("density", "length_px", "width_median_px", "tortuosity_arc_chord", "fractal_dimension")
ZONE_MEASURES = ("density", "length_px", "width_median_px", "tortuosity_arc_chord")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def measure_av(classes: np.ndarray, fov: np.ndarray | None = None,
               disc: tuple[float, float, float] | None = None, pixel_size_um: float | None = None,
               disc_source: str = "given") -> tuple[dict, list[dict]]:
    """Artery/vein measures of a class map ``(H, W)`` (:data:`vesselseg.io.av.AV_COLOURS` indices).

    Returns ``(row, vessels)``: the table columns (per-class measures; with a ``disc = (x, y, r)``
    in pixels also the zone-B/C versions and :data:`BIOMARKER_COLUMNS`) and one record per vessel
    crossing zone B. Without a disc the biomarker columns are empty and the row's ``note`` says why.
    """
    classes = np.asarray(classes)
    if classes.ndim != 2:
        raise InputError(f"an artery/vein class map is 2-D, got shape {classes.shape}")
    fov = np.ones(classes.shape, bool) if fov is None else np.asarray(fov, bool)
    masks = class_masks(classes)
    row: dict = {}
    notes = []
    for kind, mask in masks.items():
        m = measure_mask(mask, fov)
        for key in CLASS_MEASURES:
            row[f"{kind}_{key}"] = m.summary[key]
    vessels: list[ZoneVessel] = []
    if disc is None:
        row.update({k: None for k in BIOMARKER_COLUMNS})
        notes.append("no optic disc given: zone-B biomarkers (CRAE, CRVE, AVR) need --disc X,Y,R")
        return {**row, "av_note": "; ".join(notes)}, []
    x, y, r = (float(v) for v in disc)
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(r)) or r <= 0:
        raise InputError(f"disc {disc}: centre and a positive radius expected")
    if pixel_size_um:
        um, um_source = float(pixel_size_um), "given"
    else:
        um, um_source = DISC_DIAMETER_UM / (2 * r), f"disc diameter taken as {DISC_DIAMETER_UM:.0f} um"
    regions = {zone: zone_mask(classes.shape, (x, y), r, zone) & fov for zone in ("B", "C")}
    for zone, region in regions.items():
        inside = region.any()
        for kind, mask in masks.items():
            summary = measure_mask(mask, region).summary if inside else {}
            values = {key: summary.get(key) for key in ZONE_MEASURES}
            for key, value in values.items():
                row[f"zone{zone}_{kind}_{key}"] = value
    if not regions["B"].any():
        notes.append("zone B (2-3 disc radii from the disc centre) lies outside the image or FOV")
    for kind, mask in masks.items():
        vessels += zone_vessels(mask, kind, (x, y), r, fov)
    for v in vessels:
        v.calibre_um = v.calibre_px * um
    widths = {k: [v.calibre_um for v in vessels if v.kind == k] for k in KINDS}
    for kind in KINDS:
        if len(widths[kind]) < WIDEST:
            notes.append(f"{len(widths[kind])} {kind if len(widths[kind]) == 1 else kind + 's'} in zone B "
                         f"({WIDEST} expected): the {kind} equivalent combines fewer vessels")
    crae, crve = knudtson(widths["artery"], "artery"), knudtson(widths["vein"], "vein")
    crae_h, crve_h = parr_hubbard(widths["artery"], "artery"), parr_hubbard(widths["vein"], "vein")
    row.update({
        "disc_x": x, "disc_y": y, "disc_radius_px": r, "disc_source": disc_source,
        "um_per_px": um, "um_per_px_source": um_source,
        "zoneB_arteries": len(widths["artery"]), "zoneB_veins": len(widths["vein"]),
        "crae_knudtson_um": crae, "crve_knudtson_um": crve, "avr_knudtson": _ratio(crae, crve),
        "crae_hubbard_um": crae_h, "crve_hubbard_um": crve_h, "avr_hubbard": _ratio(crae_h, crve_h),
        "av_note": "; ".join(notes),
    })
    return row, [asdict(v) for v in vessels]
