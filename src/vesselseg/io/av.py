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


#: A file is read as an artery/vein map when this share of its pixels lies within
#: :data:`AV_MATCH_DISTANCE` of a reference colour. Measured: AVRDB's JPEG labels 99.4-99.6 %,
#: RITE's PNGs 100 %; colour photographs (DRIVE, CHASE_DB1) 32-47 %.
AV_MATCH_SHARE = 0.985
AV_MATCH_DISTANCE = 100.0


def is_av_map(rgb: np.ndarray) -> bool:
    """Whether an RGB image is an artery/vein map (black, red, blue; green and white allowed) rather
    than a photograph or a black-and-white vessel mask: nearly every pixel is one of the reference
    colours (JPEG ringing tolerated) and some are red or blue."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        return False
    # A regular sample of at most ~250,000 pixels decides (the (H, W, 5) distances of a 200 MP
    # photograph would take gigabytes); an annotation's colours are everywhere alike.
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 250_000)))
    x = rgb[::step, ::step, :3].astype(np.float32)
    if rgb.dtype != np.uint8:
        x = x * 255.0
    d = ((x[..., None, :] - AV_COLOURS) ** 2).sum(axis=-1)
    nearest = d.argmin(axis=-1)
    close = np.take_along_axis(d, nearest[..., None], axis=-1)[..., 0] <= AV_MATCH_DISTANCE ** 2
    coloured = (np.isin(nearest, (ARTERY, VEIN)) & close).mean()  # red or blue, not merely nearest to it
    return bool(close.mean() >= AV_MATCH_SHARE and coloured >= 5e-4)


def read_av_label(path: str | os.PathLike) -> np.ndarray:
    """Read an artery/vein label file -> ``(H, W)`` uint8 class map (see :data:`AV_COLOURS`)."""
    return snap_av_colours(read_image(path))


def av_targets(classes: np.ndarray) -> np.ndarray:
    """Class map ``(H, W)`` -> training targets ``(3, H, W)`` float32: artery, vein, known.

    A crossing is both artery and vein; an uncertain vessel (RITE's white) is neither and is
    left out of the loss (``known`` 0); every other pixel, background included, is known.
    """
    classes = np.asarray(classes)
    crossing = classes == CROSSING
    return np.stack([(classes == ARTERY) | crossing, (classes == VEIN) | crossing,
                     classes != UNCERTAIN]).astype(np.float32)


def vessel_from_av(classes: np.ndarray) -> np.ndarray:
    """Vessel mask (``bool``) of a class map: artery, vein, crossing or uncertain."""
    return classes != BACKGROUND
