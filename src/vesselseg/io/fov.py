"""Field-of-view (FOV) masks for photographs that ship without one (STARE, CHASE_DB1, users').

Method (``derive_fov``): the camera's circular aperture is bright in the red channel and the
surround is near-black, so

1. smooth the red channel with a small Gaussian (sensor noise, JPEG blocks),
2. threshold at ``frac`` of a robust maximum (the 99th percentile), never below ``floor``,
3. keep the largest connected component and fill its holes (dark lesions, the vessel tree),
4. erode by ``erode`` pixels, so the dark, blurred rim of the aperture counts as outside.

On DRIVE, against the shipped masks, this reaches Dice ≈ 0.99 (``tests/test_io.py``;
``docs/training.md``, "Derived FOV").
"""

from __future__ import annotations

import numpy as np

#: Side length at which :func:`derive_fov` works on large photographs.
WORKING_SIDE = 1000


def derive_fov(image: np.ndarray, frac: float = 0.12, floor: float = 0.04, erode: int = 1) -> np.ndarray:
    """Estimate the FOV of a fundus photograph.

    Args:
        image: float RGB ``(H, W, 3)`` in ``[0, 1]``.
        frac: threshold as a fraction of the red channel's 99th percentile.
        floor: absolute minimum threshold (on the ``[0, 1]`` scale).
        erode: pixels removed from the rim after filling.

    Returns:
        ``bool`` ``(H, W)``; all True if no dark surround is found (e.g. a cropped photograph).
    """
    red = image[..., 0] if image.ndim == 3 else image
    if max(red.shape) > WORKING_SIDE * 1.2:
        # Large photographs: find the aperture at ~1000 px and scale the mask back. 8x faster on
        # a 3504x2336 image, and the blur/erosion then act at the scale they were tuned at
        # (DRIVE/STARE/CHASE_DB1, <= 1000 px, are processed as before).
        import cv2

        f = WORKING_SIDE / max(red.shape)
        size = (max(1, round(red.shape[1] * f)), max(1, round(red.shape[0] * f)))
        if image.ndim == 3 and image.shape[-1] in (3, 4) and image.dtype in (np.float32, np.float64):
            # Shrink all channels and keep red: no full-size copy of the strided red channel
            # (784 MB for a 14000x14000 photograph). Area averaging is per channel, so the same.
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)[..., 0].astype(np.float32)
        else:
            small = cv2.resize(red.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        if small.ndim == 1:  # cv2 drops an axis of length 1
            small = small.reshape(size[1], size[0])
        mask = derive_fov(small, frac=frac, floor=floor, erode=erode)
        return cv2.resize(mask.view(np.uint8), (red.shape[1], red.shape[0]),
                          interpolation=cv2.INTER_NEAREST).view(bool)
    return _aperture(red, frac, floor, erode)


def _aperture(red: np.ndarray, frac: float, floor: float, erode: int) -> np.ndarray:
    """Steps 1-4 of the module doc on a ``(H, W)`` red channel.

    OpenCV, not scipy.ndimage: the same mask pixel for pixel on DRIVE, STARE and CHASE_DB1 (the
    Gaussian has scipy's radius 4σ and reflect border; components, hole filling and erosion use
    the same connectivities and border rule) at 2.5x the speed, and no scipy import on the path
    of ``vesselseg segment`` (benchmarks/profile_segment.py).
    """
    import cv2

    red = cv2.GaussianBlur(np.ascontiguousarray(red, dtype=np.float32), (13, 13), 1.5,
                           borderType=cv2.BORDER_REFLECT)
    hi = float(np.percentile(red, 99))
    thr = max(floor, frac * hi)
    fg = (red > thr).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    if n <= 1:
        return np.ones(red.shape, dtype=bool)
    fov = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    # fill holes: the background 4-connected to the frame's edge stays outside, the rest is filled
    outside = cv2.copyMakeBorder(1 - fov, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    _, background = cv2.connectedComponents(outside, connectivity=4)
    fov = (background[1:-1, 1:-1] != background[0, 0]).astype(np.uint8)
    if erode > 0:  # 3x3 square; outside the frame counts as FOV (scipy's border_value=1)
        fov = cv2.erode(fov, np.ones((3, 3), np.uint8), iterations=erode, borderType=cv2.BORDER_CONSTANT,
                        borderValue=1)
    fov = fov.astype(bool)
    if fov.mean() < 0.05:  # nothing like an aperture: treat the whole frame as FOV
        return np.ones(red.shape, dtype=bool)
    return fov


def fov_diameter(fov: np.ndarray) -> float:
    """Diameter of the FOV in pixels: the larger side of its bounding box.

    Many cameras clip the circular aperture at the top and bottom (STARE, most 3:2 sensors), so
    the height of the FOV understates the circle; its width does not. Taking the larger side is
    right for either clipping. An all-False mask has diameter 0.
    """
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        return 0.0
    return float(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))


#: Limits of a field of view that can serve as the resolution policy's ruler: a camera aperture
#: is a disc, at most clipped top and bottom by the sensor (bounding box up to ~1.5:1).
MAX_FOV_ASPECT = 2.0
MIN_FOV_FILL = 0.5  # FOV pixels / bounding-box pixels (a disc: 0.785; a clipped disc: more)
MIN_FOV_DIAMETER = 64  # pixels
MIN_FOV_FRACTION = 0.05  # FOV pixels / frame pixels


def fov_implausible(fov: np.ndarray) -> str | None:
    """Why ``fov`` cannot be a fundus camera's aperture (a short reason), or None if it can be.

    Checked: the bounding box's aspect ratio, how much of the box the FOV fills, its diameter in
    pixels, and its share of the frame. A whole-frame FOV of an ordinary photograph (a cropped
    fundus image) passes; a 20000x50 strip does not.
    """
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        return "it is empty"
    h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    aspect = max(h, w) / min(h, w)
    if aspect > MAX_FOV_ASPECT:
        return f"its {w}x{h} px bounding box has an aspect ratio of {aspect:.3g}:1, above {MAX_FOV_ASPECT:g}:1"
    if max(h, w) < MIN_FOV_DIAMETER:
        return f"it is {max(h, w)} px across, under {MIN_FOV_DIAMETER} px"
    n = int(np.count_nonzero(fov))
    if n < MIN_FOV_FILL * h * w:
        return f"it fills {100 * n / (h * w):.0f}% of its {w}x{h} px bounding box, under {100 * MIN_FOV_FILL:.0f}%"
    if n < MIN_FOV_FRACTION * fov.size:
        return f"it covers {100 * n / fov.size:.1f}% of the frame, under {100 * MIN_FOV_FRACTION:.0f}%"
    return None


def fov_bbox(fov: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    """``(rows, cols)`` slices of the FOV's bounding box grown by ``margin`` (clipped to the image)."""
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        return slice(0, fov.shape[0]), slice(0, fov.shape[1])
    r0, r1 = max(0, rows[0] - margin), min(fov.shape[0], rows[-1] + 1 + margin)
    c0, c1 = max(0, cols[0] - margin), min(fov.shape[1], cols[-1] + 1 + margin)
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


def training_resolution(fovs: list[np.ndarray]) -> dict:
    """The model card's ``resolution`` entry: median FOV diameter of the training images (pixels).

    :mod:`vesselseg.segmentation` rescales other photographs so their FOV diameter matches it.
    """
    d = [fov_diameter(f) for f in fovs]
    return {"fov_diameter_px": float(np.median(d)), "fov_diameter_range_px": [float(min(d)), float(max(d))]}
