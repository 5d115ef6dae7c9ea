"""Writing measurements: one CSV row per image, a JSON with per-segment detail, a width PNG."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from vesselseg.io.files import atomic_write_text
from vesselseg.measure.measurements import COLUMNS, Measurements


def write_table(rows: list[dict], path: str | Path) -> Path:
    """CSV with :data:`COLUMNS` (extra keys, e.g. the annulus's, appended); blank = undefined."""
    path = Path(path)
    extra = [k for r in rows for k in r if k not in COLUMNS]
    fields = list(COLUMNS) + list(dict.fromkeys(extra))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]))
                         for k in fields})
    atomic_write_text(path, buf.getvalue())
    return path


def write_json(results: list[Measurements], path: str | Path, keep: list | None = None) -> Path:
    """JSON list: per image its summary, width histogram and segments (after the items in ``keep``)."""
    path = Path(path)
    items = list(keep or []) + [
        {"summary": m.summary, "width_histogram": m.width_histogram, "segments": m.segments,
         **({"zone_b_vessels": m.zone_vessels} if m.zone_vessels else {})}
        for m in results]
    atomic_write_text(path, json.dumps(items, indent=1, default=float) + "\n")
    return path


def zones_image(classes: np.ndarray, disc: tuple[float, float, float], vessels: list[dict]) -> np.ndarray:
    """``uint8`` RGB: arteries red, veins blue (crossings magenta), the disc circle in white, the
    zone-B ring (2r and 3r) in yellow, and each vessel measured in zone B marked by a white dot
    sized by its calibre: the picture to check what CRAE/CRVE were computed from."""
    import cv2

    from vesselseg.io.av import ARTERY, CROSSING, VEIN

    out = np.zeros(classes.shape + (3,), np.uint8)
    out[classes == ARTERY] = (255, 0, 0)
    out[classes == VEIN] = (0, 0, 255)
    out[classes == CROSSING] = (255, 0, 255)
    x, y, r = disc
    thick = max(1, round(r / 25))
    centre = (round(x), round(y))
    cv2.circle(out, centre, round(r), (255, 255, 255), thick, cv2.LINE_AA)
    for k in (2, 3):
        cv2.circle(out, centre, round(k * r), (255, 220, 0), thick, cv2.LINE_AA)
    for v in vessels:
        cv2.circle(out, (round(v["x"]), round(v["y"])), max(2, round(v["calibre_px"] / 2)), (255, 255, 255), -1)
    return out


def width_image(m: Measurements, mask: np.ndarray | None = None, vmax: float | None = None) -> np.ndarray:
    """``uint8`` RGB: the skeleton coloured by local width (turbo colour map, thin = blue, wide =
    red), thickened to 3 px for visibility, over the vessel mask in dark grey."""
    from matplotlib import colormaps
    from scipy import ndimage as ndi

    skel, widths = m.skeleton, m.widths
    out = np.zeros(skel.shape + (3,), np.uint8)
    if mask is not None:
        out[mask.astype(bool)] = 60
    if not skel.any():
        return out
    top = vmax or max(3.0, float(np.percentile(widths[skel], 99)))
    # Spread each skeleton pixel's width to its 3x3 neighbourhood (max), so thin lines show.
    w_skel = np.where(skel, widths, 0.0)
    grown = ndi.grey_dilation(w_skel, size=(3, 3))
    show = grown > 0
    rgb = colormaps["turbo"](np.clip(grown[show] / top, 0, 1))[:, :3]
    out[show] = np.rint(rgb * 255).astype(np.uint8)
    return out
