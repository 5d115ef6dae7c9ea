"""Camera variation as augmentation: what another fundus camera does to the same retina.

Applied to a whole RGB photograph (already at the training scale), *before* preprocessing, so
standardisation and CLAHE see the degraded photograph exactly as they would see one from another
camera at inference. Each effect is drawn independently with its own probability:

- white balance: per-channel gains (sensor and flash colour),
- exposure: brightness, contrast and gamma,
- vignetting: radial fall-off from an off-centre point (illumination, small pupils),
- defocus: Gaussian blur (optics, focus, media opacities),
- sensor noise: additive Gaussian,
- compression: JPEG at low to medium quality (many archives store JPEG).

Pixels outside the field of view are left as they were (the camera's black surround).
"""

from __future__ import annotations

import cv2
import numpy as np


def camera_augment(rgb: np.ndarray, fov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random camera: ``rgb`` ``(H, W, 3)`` float32 in ``[0, 1]``, ``fov`` bool ``(H, W)`` ->
    a new ``(H, W, 3)`` float32 in ``[0, 1]``."""
    x = rgb.astype(np.float32, copy=True)
    x *= rng.uniform(0.8, 1.2, size=3).astype(np.float32)  # white balance
    inside = x[fov]
    mean = inside.mean(axis=0) if inside.size else np.zeros(3, np.float32)
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.7, 1.3)  # contrast, brightness
    x = np.clip(x, 0.0, 1.0) ** rng.uniform(0.7, 1.5)  # gamma
    if rng.random() < 0.4:  # vignetting
        h, w = fov.shape
        cy, cx = h * rng.uniform(0.3, 0.7), w * rng.uniform(0.3, 0.7)
        yy, xx = np.ogrid[:h, :w]
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (0.25 * max(h, w) ** 2)
        x *= (1.0 - rng.uniform(0.1, 0.4) * np.clip(r2, 0.0, 1.5))[..., None].astype(np.float32)
    if rng.random() < 0.3:  # defocus
        x = cv2.GaussianBlur(x, (0, 0), sigmaX=rng.uniform(0.5, 1.5))
    if rng.random() < 0.5:  # sensor noise
        x = x + rng.normal(0.0, rng.uniform(0.005, 0.03), size=x.shape).astype(np.float32)
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    if rng.random() < 0.4:  # compression
        bgr = cv2.cvtColor(np.rint(x * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)  # OpenCV's order
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 91))])
        if ok:
            x = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    x[~fov] = rgb[~fov]
    return x
