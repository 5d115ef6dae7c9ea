"""One photograph in, a vessel probability map and mask out, at the model's training scale.

Steps (:meth:`Segmenter.run`): FOV mask (derived, given, or none) -> crop to the FOV's bounding
box -> rescale so the FOV diameter matches the training images' (:mod:`.resolution`) ->
preprocess with the model card's settings -> predict -> resample back -> paste into the full
frame, zero outside the FOV -> threshold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vesselseg.errors import ConfigError, InputError
from vesselseg.inference.predictor import Predictor
from vesselseg.io.fov import derive_fov, fov_bbox, fov_diameter, fov_implausible
from vesselseg.io.images import as_rgb, max_pixels, read_mask
from vesselseg.io.notes import note
from vesselseg.segmentation.resolution import (
    choose_scale,
    parse_scale,
    reference_diameter,
    resize_image,
    resize_mask,
    resize_probability,
    scaled_size,
)
from vesselseg.vocabulary import MODES, SEGMENT_STANDARDISE

#: Context kept around the FOV when cropping, in original pixels (the network sees the rim).
CROP_MARGIN = 16
#: Largest side processed in one whole-image pass; bigger images are tiled (bounded memory).
DEFAULT_TILE = 1024
#: The steps :meth:`Segmenter.run` times, in order (:attr:`SegmentResult.timings`).
STEPS = ("fov", "resample", "preprocess", "network", "map_back")
#: Smallest tile used: below it each pass's fixed cost and the tiles' overlap only add time
#: (a 64 px tile is several times slower) while the memory saved is already negligible.
MIN_TILE = 256


@dataclass
class SegmentResult:
    """Everything one segmentation produced, on the original pixel grid ``(H, W)``."""

    prob: np.ndarray  # float32 (H, W) in [0, 1]; 0 outside the FOV; (K, H, W) for K output maps
    vessels: np.ndarray  # bool (H, W) (or (K, H, W)): prob >= threshold inside the FOV
    fov: np.ndarray  # bool (H, W)
    fov_diameter: float  # pixels, original grid
    scale: float  # resampling factor applied before the network
    seconds: float
    notes: list[str] = field(default_factory=list)  # what the user should know (also shown on stderr)
    #: Seconds per step of :meth:`Segmenter.run` (:data:`STEPS`), for profiles (benchmarks/profile_segment.py).
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def vessel_fraction(self) -> float:
        """Vessel pixels / FOV pixels."""
        n = int(self.fov.sum())
        return float(self.vessels.sum()) / n if n else 0.0


class Segmenter:
    """A loaded model plus the segmentation settings; call :meth:`run` per photograph.

    Args:
        weights: shipped name (``drive``), ``.safetensors`` file, run folder, or ``.onnx`` file.
        mode: ``whole`` (one pass, tiled above ``tile`` px) or ``sliding`` (the paper's 64/16).
        threshold: probability at or above which a pixel is a vessel.
        tta: average over flips.
        scale: ``auto`` (the resolution policy), ``none``, or a factor.
        backend: ``torch`` or ``onnxruntime``.
        standardise: ``auto`` (as the model was trained: its card's setting), ``dataset`` (the
            training dataset's statistics from the card) or ``image`` (this photograph's own);
            ``card`` is the old name of ``auto``.
        expect: ``vessels`` (the default; an artery/vein model is refused with an error),
            ``av`` (see :class:`~vesselseg.segmentation.av.ArteryVeinClassifier`), or None.
    """

    def __init__(self, weights: str | Path = "drive", mode: str = "whole", threshold: float = 0.5,
                 tta: bool = False, scale: str | float = "auto", backend: str = "torch",
                 standardise: str = "auto", tile: int | None = DEFAULT_TILE, predictor: Predictor | None = None,
                 expect: str | None = "vessels"):
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose whole or sliding")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"threshold must be within [0, 1], got {threshold}")
        standardise = "auto" if standardise == "card" else standardise
        if standardise not in SEGMENT_STANDARDISE:
            raise ConfigError(f"standardise must be one of {', '.join(SEGMENT_STANDARDISE)}, not {standardise!r}")
        self.predictor = predictor or Predictor(weights, backend=backend, expect=expect)
        if standardise == "dataset" and self.predictor.stats is None:
            raise ConfigError("--standardise dataset: this model was trained with per-image standardisation and its "
                              "card holds no dataset statistics; use auto or image")
        if standardise != "auto":
            self.predictor.pcfg = replace(self.predictor.pcfg, standardise=standardise)
        if tile is not None and int(tile) < MIN_TILE:
            note(f"tile {tile} px is below the minimum of {MIN_TILE} px (smaller tiles only add time); "
                 f"using {MIN_TILE}")
            tile = MIN_TILE
        cap = getattr(self.predictor.model, "inference_tile", None)  # attention models bound their pass
        if cap is not None:
            tile = min(int(tile), int(cap)) if tile is not None else int(cap)
        self.mode, self.threshold, self.tta, self.tile = mode, float(threshold), tta, tile
        self.scale = parse_scale(scale)
        self.reference = reference_diameter(self.predictor.card)

    @property
    def card(self) -> dict:
        return self.predictor.card

    def fov_mask(self, rgb: np.ndarray, fov) -> np.ndarray:
        """``fov``: ``"auto"`` (derived), ``"none"`` (whole frame), a path, or a bool array."""
        shape = rgb.shape[:2]
        if fov is None or (isinstance(fov, str) and fov == "auto"):
            return derive_fov(rgb)
        if isinstance(fov, str) and fov == "none":
            return np.ones(shape, dtype=bool)
        if isinstance(fov, (str, Path)):
            mask = read_mask(fov, shape)
        else:
            mask = np.asarray(fov).astype(bool)
            if mask.shape != shape:
                raise InputError(f"FOV mask is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}")
        if not mask.any():
            raise InputError("the FOV mask is empty (all zero): nothing to segment")
        return mask

    def run(self, image: np.ndarray, fov="auto", name: str | None = None) -> SegmentResult:
        """Segment one photograph (any array layout :func:`~vesselseg.io.images.as_rgb` takes).

        ``name`` (the file) prefixes the notes this prints on stderr; they are also returned in
        :attr:`SegmentResult.notes`. A resampled size over the pixel limit
        (``VESSELSEG_MAX_PIXELS``) is refused with an :class:`InputError`.
        """
        t0 = time.perf_counter()
        notes: list[str] = []
        timings: dict[str, float] = {}
        clock = [t0]

        def lap(step: str) -> None:
            now = time.perf_counter()
            timings[step] = now - clock[0]
            clock[0] = now

        def tell(message: str) -> None:
            notes.append(message)
            note(f"{name}: {message}" if name else message)

        rgb = as_rgb(image, name=name or "image")
        mask = self.fov_mask(rgb, fov)
        diameter = fov_diameter(mask)
        factor = choose_scale(diameter, self.reference, self.scale)
        if self.scale == "auto" and factor != 1.0:
            why = fov_implausible(mask)
            if why is not None:
                tell(f"the field of view does not look like a camera aperture ({why}); segmented at "
                     "native scale instead of resampling by it (--scale FACTOR sets a scale)")
                factor = 1.0
        lap("fov")
        rows, cols = fov_bbox(mask, CROP_MARGIN)
        crop_shape = (rows.stop - rows.start, cols.stop - cols.start)
        size = scaled_size(crop_shape, factor)
        limit = max_pixels()
        if size[0] * size[1] > limit:
            raise InputError(
                f"scale {factor:.3g} would make the {crop_shape[1]}x{crop_shape[0]} px image (cropped to its "
                f"FOV) {size[1]}x{size[0]} = {size[0] * size[1]} pixels, more than the limit of {limit} "
                "(VESSELSEG_MAX_PIXELS); choose a smaller --scale"
            )
        crop_fov = mask[rows, cols]
        # Only the resampled copy is preprocessed: a 14000 px photograph brought to a 540 px FOV
        # is processed at ~600 px; the full-size arrays are the photograph, the mask and the map.
        small_rgb = resize_image(rgb[rows, cols], size)
        small_fov = resize_mask(crop_fov, size)
        lap("resample")
        grey = self.predictor.preprocess(small_rgb, small_fov)
        del small_rgb, small_fov, crop_fov
        lap("preprocess")
        kw = {"tile": self.tile} if self.mode == "whole" else {}
        crop_prob = self.predictor.predict_grey(grey, mode=self.mode, tta=self.tta, **kw)
        del grey
        lap("network")
        back = resize_probability(crop_prob, crop_shape)
        del crop_prob
        if crop_shape == mask.shape:
            prob = np.ascontiguousarray(back, dtype=np.float32)
        else:  # (H, W), or (K, H, W) for a model with K output maps (artery/vein)
            prob = np.zeros(back.shape[:-2] + mask.shape, dtype=np.float32)
            prob[..., rows, cols] = back
        del back
        prob *= mask  # 0 outside the FOV
        vessels = prob >= self.threshold
        vessels &= mask
        lap("map_back")
        return SegmentResult(prob=prob, vessels=vessels, fov=mask, fov_diameter=diameter, scale=factor,
                             seconds=time.perf_counter() - t0, notes=notes, timings=timings)
