"""The standard measurement zones around the optic disc (disc centre ``(x, y)``, radius ``r`` in pixels).

As in the retinal-calibre literature (ARIC / Blue Mountains grading, IVAN, AutoMorph, VascX):

* **zone B**: from half a disc diameter to one disc diameter beyond the disc margin, i.e. the ring
  ``2r <= distance from the centre <= 3r``;
* **zone C**: from half a disc diameter to two disc diameters beyond the margin, ``2r .. 5r``
  (it contains zone B).

CRAE/CRVE are measured in zone B; zone C serves the tortuosity and density summaries that need
longer vessel stretches.
"""

from __future__ import annotations

import numpy as np

#: Zone name -> (inner, outer) distance from the disc centre, in disc radii.
ZONES = {"B": (2.0, 3.0), "C": (2.0, 5.0)}


def zone_mask(shape: tuple[int, int], centre_xy: tuple[float, float], disc_radius: float,
              zone: str = "B") -> np.ndarray:
    """``(H, W)`` bool: the pixels of ``zone`` (``"B"`` or ``"C"``) around the disc."""
    inner, outer = ZONES[zone]
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r2 = (xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2
    return (r2 >= (inner * disc_radius) ** 2) & (r2 <= (outer * disc_radius) ** 2)


def zone_b(shape: tuple[int, int], centre_xy: tuple[float, float], disc_radius: float) -> np.ndarray:
    """Zone B (``2r .. 3r`` from the disc centre), ``(H, W)`` bool."""
    return zone_mask(shape, centre_xy, disc_radius, "B")
