"""The resolution policy: bring every photograph to the scale the model was trained at.

Vessel calibre in pixels grows with the camera's resolution: a 3504x2336 photograph shows the
same vessel about four times wider than DRIVE's 565x584 images, and a network trained on DRIVE
patches has never seen such widths. The field of view (the camera's circular aperture) is a
ruler every fundus photograph carries, so the policy is:

1. measure the FOV diameter ``d`` (:func:`vesselseg.io.fov.fov_diameter`);
2. scale the photograph by ``s = d_train / d``, where ``d_train`` is the median FOV diameter of
   the training images (stored in the model card, e.g. 540 px for DRIVE);
3. segment at that scale and resample the probability map back to the original pixel grid.

Factors within ``TOLERANCE`` of 1 are treated as 1 (no resampling for photographs already at the
training scale, such as the training dataset's own images).
"""

from __future__ import annotations

import cv2
import numpy as np

from vesselseg.errors import ConfigError, InputError

TOLERANCE = 0.1
MIN_SCALE, MAX_SCALE = 0.05, 8.0
#: DRIVE's median FOV diameter; used for model cards written before cards carried their own.
FALLBACK_DIAMETER = 540.0


def reference_diameter(card: dict) -> float:
    """FOV diameter (pixels) of the model's training images, from its card."""
    res = card.get("resolution") or {}
    return float(res.get("fov_diameter_px") or FALLBACK_DIAMETER)


def parse_scale(value: str | float | None) -> str | float:
    """``"auto"``, ``"none"`` or a positive factor (from the command line or the API)."""
    if value is None:
        return "auto"
    if isinstance(value, str) and value.lower() in ("auto", "none"):
        return value.lower()
    try:
        factor = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"scale must be 'auto', 'none' or a positive number, not {value!r}") from None
    if not MIN_SCALE <= factor <= MAX_SCALE:
        raise ConfigError(f"scale {factor} is outside [{MIN_SCALE}, {MAX_SCALE}]")
    return factor


def choose_scale(diameter: float, reference: float, scale: str | float = "auto") -> float:
    """The resampling factor for a photograph whose FOV is ``diameter`` pixels wide."""
    scale = parse_scale(scale)
    if scale == "none":
        return 1.0
    if scale != "auto":
        return float(scale)
    if diameter <= 0:
        raise InputError("the field of view is empty; pass a FOV mask or --fov none")
    factor = float(np.clip(reference / diameter, MIN_SCALE, MAX_SCALE))
    return 1.0 if abs(factor - 1.0) < TOLERANCE else factor


def scaled_size(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """``(H, W)`` after scaling by ``factor`` (at least 16 pixels a side)."""
    return max(16, round(shape[0] * factor)), max(16, round(shape[1] * factor))


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample an image ``(H, W[, C])`` to ``size`` ``(h, w)``: area averaging down, cubic up.

    Area averaging is the anti-aliased choice for shrinking (bilinear would alias the thin
    vessels); values stay within the input range (cubic overshoot is clipped).
    """
    h, w = size
    if (h, w) == image.shape[:2]:
        return image
    down = h * w < image.shape[0] * image.shape[1]
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if down else cv2.INTER_CUBIC)
    if out.ndim < image.ndim:  # cv2 drops a trailing axis of length 1
        out = out.reshape(h, w, *image.shape[2:])
    if not down:
        np.clip(out, image.min(), image.max(), out=out)
    return out.astype(image.dtype, copy=False)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling of a ``bool`` mask to ``size`` ``(h, w)``."""
    h, w = size
    if (h, w) == mask.shape:
        return mask
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def resize_probability(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a probability map ``(h', w')`` (or ``(K, h', w')`` maps) back to the
    original grid ``size`` ``(h, w)``."""
    h, w = size
    if (h, w) == prob.shape[-2:]:
        return prob
    if prob.ndim == 3:
        return np.stack([resize_probability(p, size) for p in prob])
    out = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out)
