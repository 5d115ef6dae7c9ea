"""What ``vesselseg segment`` writes for each photograph, and the overlay rendering."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vesselseg.errors import InputError
from vesselseg.io.images import PNG_COMPRESSION, to_uint8, write_png, write_probability
from vesselseg.vocabulary import SEGMENT_OUTPUTS

SUFFIXES = SEGMENT_OUTPUTS
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
    # uint8 throughout; only the vessel pixels go through float (a float32 copy of a 14000 px
    # photograph would be 2.4 GB).
    out = to_uint8(rgb)
    if out is rgb:
        out = out.copy()
    paint = np.asarray(colour, np.float32)
    mixed = (1 - alpha) * out[vessels].astype(np.float32) + alpha * paint
    out[vessels] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    del mixed
    if fov is not None and not fov.all():
        out[fov_outline(fov, max(1, round(max(fov.shape) / 600)))] = 160
    return out


def fov_outline(fov: np.ndarray, width: int) -> np.ndarray:
    """FOV pixels within ``width`` steps (4-connected) of the outside or of the frame's edge.

    The same set as ``fov & ~scipy.ndimage.binary_erosion(fov, iterations=width)``, from one L1
    distance transform in uint8 (a few times faster than iterated erosion on large photographs).
    """
    import cv2

    pad = cv2.copyMakeBorder(np.ascontiguousarray(fov, dtype=np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    # uint8 distances saturate at 255: exact for any outline narrower than that
    dist = cv2.distanceTransform(pad, cv2.DIST_L1, 3, dstType=cv2.CV_8U if width < 255 else cv2.CV_32F)
    dist = dist[1:-1, 1:-1]
    return fov & (dist <= width)


def parse_outputs(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``"vessels,prob"`` (or a sequence of names) -> ``("vessels", "prob")`` in :data:`SUFFIXES`
    order; None or ``"all"`` -> all.

    An unknown or empty list is an :class:`~vesselseg.errors.InputError` naming the choices.
    """
    if value is not None and not isinstance(value, str):
        value = ",".join(value)
    if value is None or value.strip().lower() == "all":
        return SUFFIXES
    asked = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [v for v in asked if v not in SUFFIXES]
    if unknown or not asked:
        raise InputError(f"--outputs {value!r}: choose one or more of {', '.join(SUFFIXES)} "
                         "(comma-separated), or all")
    return tuple(k for k in SUFFIXES if k in asked)


def write_outputs(paths: dict[str, Path], rgb: np.ndarray, prob: np.ndarray, vessels: np.ndarray,
                  fov: np.ndarray | None = None, kinds=SUFFIXES, replace: bool = True,
                  compression: int = PNG_COMPRESSION) -> dict[str, float]:
    """Write the PNGs named in ``kinds`` (default all three), each atomically.

    ``replace=False`` never replaces an existing file. If one write fails (disk full...), the
    files this call already wrote are removed again, so an image has either all of the
    requested outputs or none of them; files that existed before are never touched.
    ``compression``: the PNGs' zlib level (:data:`~vesselseg.io.images.PNG_COMPRESSION`).
    Returns the seconds each output took (building, encoding and writing), by kind.
    """
    writers = {"prob": lambda p: write_probability(p, prob, replace=replace, compression=compression),
               "vessels": lambda p: write_png(p, vessels, replace=replace, compression=compression),
               # the overlay is built here and nowhere else: encoding may reuse its memory
               "overlay": lambda p: write_png(p, overlay(rgb, vessels, fov=fov), replace=replace,
                                              compression=compression, consume=True)}
    written, seconds = [], {}
    try:
        for kind in SUFFIXES:
            if kind in kinds:
                t0 = time.perf_counter()
                written.append(writers[kind](paths[kind]))
                seconds[kind] = time.perf_counter() - t0
    except BaseException:
        for p in written:
            Path(p).unlink(missing_ok=True)
        raise
    return seconds
