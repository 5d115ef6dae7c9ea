"""Artery/vein label images: the common RGB annotation format, read into class maps.

RITE and AVRDB (and most artery/vein sets) draw arteries red (255,0,0), veins blue (0,0,255),
crossings green (0,255,0) and, in RITE, uncertain vessel white (255,255,255) on black. AVRDB's
files are lossy JPEG, so colours bleed at every vessel edge (30+ distinct colours in one file):
each pixel is snapped to the nearest of the five reference colours before it is used.
"""

from __future__ import annotations

import os

import numpy as np

from vesselseg.io.images import read_image

#: Class index -> reference colour. 0 background, 1 artery, 2 vein, 3 crossing, 4 uncertain.
AV_COLOURS = np.array([(0, 0, 0), (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)], dtype=np.float32)
BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN = range(5)


def snap_av_colours(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB (uint8, or float in ``[0, 1]``) -> ``(H, W)`` uint8 class map.

    Each pixel takes the class of the nearest reference colour (Euclidean in RGB), which undoes
    JPEG's ringing around the drawn vessels without a hand-tuned threshold per colour.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise ValueError("an artery/vein label must be an RGB image")
    x = rgb[..., :3].astype(np.float32)
    if rgb.dtype != np.uint8:
        x = x * 255.0
    # (H, W, 5) squared distances; 5 colours keep this a cheap broadcast.
    d = ((x[..., None, :] - AV_COLOURS) ** 2).sum(axis=-1)
    return d.argmin(axis=-1).astype(np.uint8)


def read_av_label(path: str | os.PathLike) -> np.ndarray:
    """Read an artery/vein label file -> ``(H, W)`` uint8 class map (see :data:`AV_COLOURS`)."""
    return snap_av_colours(read_image(path))


def vessel_from_av(classes: np.ndarray) -> np.ndarray:
    """Vessel mask (``bool``) of a class map: artery, vein, crossing or uncertain."""
    return classes != BACKGROUND
