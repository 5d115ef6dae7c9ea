"""What ``vesselseg segment`` writes for each photograph, and the overlay rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vesselseg.io.images import to_uint8, write_png, write_probability

SUFFIXES = ("vessels", "prob", "overlay")
#: Vessel colour in overlays: green is the channel a fundus photograph has least of.
OVERLAY_COLOUR = (0, 255, 0)


def output_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """``{"vessels": <stem>_vessels.png, "prob": <stem>_prob.png, "overlay": <stem>_overlay.png}``."""
    return {kind: Path(out_dir) / f"{stem}_{kind}.png" for kind in SUFFIXES}


def overlay(rgb: np.ndarray, vessels: np.ndarray, colour=OVERLAY_COLOUR, alpha: float = 0.7,
            fov: np.ndarray | None = None) -> np.ndarray:
    """The photograph ``(H, W, 3)`` with ``vessels`` ``(H, W)`` painted over it (``uint8`` RGB).

    With ``fov`` given, its outline is drawn thinly in grey so the analysed region is visible.
    """
    out = to_uint8(rgb).astype(np.float32)
    paint = np.asarray(colour, np.float32)
    out[vessels] = (1 - alpha) * out[vessels] + alpha * paint
    if fov is not None and not fov.all():
        from scipy import ndimage as ndi

        edge = fov & ~ndi.binary_erosion(fov, iterations=max(1, round(max(fov.shape) / 600)))
        out[edge] = 160.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_outputs(paths: dict[str, Path], rgb: np.ndarray, prob: np.ndarray, vessels: np.ndarray,
                  fov: np.ndarray | None = None) -> None:
    """Write the three PNGs (each atomically: a crash never leaves a half-written file)."""
    write_probability(paths["prob"], prob)
    write_png(paths["vessels"], vessels)
    write_png(paths["overlay"], overlay(rgb, vessels, fov=fov))
