"""The optic disc of a photograph: centre and radius, or an honest "not found".

A U-Net trained to mark the disc (shipped as ``--weights disc``; ``configs/disc/disc_unet.yaml``)
runs through the same resolution policy as vessel segmentation (:class:`.Segmenter`); the disc is
then read off its probability map (:func:`disc_from_probability`): the connected region of
``p >= 0.5`` with the largest probability mass, its probability-weighted centroid as the centre
and the radius of the circle of equal area. Its mean probability is the confidence; below
:data:`MIN_CONFIDENCE`, or when no region is large enough, the answer is "no disc" with the
reason -- a zone B around a guessed disc would give confident-looking, wrong biomarkers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from vesselseg.segmentation.segmenter import Segmenter, SegmentResult

#: Weights of the disc model shipped with the package.
DISC_WEIGHTS = "disc"
#: A region whose mean probability is below this is not reported as the disc.
MIN_CONFIDENCE = 0.6
#: Smallest disc radius accepted, as a fraction of the FOV diameter (ultra-widefield images have
#: discs of about 2-3 % of the frame; a 45-degree camera about 7-8 %).
MIN_RADIUS_FRACTION = 0.01


@dataclass(frozen=True)
class Disc:
    """An optic disc in image pixels: centre ``(x, y)`` (column, row), ``radius``, and how sure."""

    x: float
    y: float
    radius: float
    confidence: float
    source: str = "detected"


@dataclass(frozen=True)
class DiscSearch:
    """What the detector found: the disc (or None) and why not, plus the probability map."""

    disc: Disc | None
    reason: str
    prob: np.ndarray


def disc_from_probability(prob: np.ndarray, fov: np.ndarray | None = None, threshold: float = 0.5,
                          min_confidence: float = MIN_CONFIDENCE) -> tuple[Disc | None, str]:
    """Read the disc off a disc probability map ``(H, W)``; returns ``(disc or None, reason)``."""
    prob = np.asarray(prob, np.float32)
    region = prob >= threshold
    if fov is not None:
        region &= fov
    labels, n = ndi.label(region)
    if n == 0:
        return None, "no optic disc found (no region above probability 0.5)"
    mass = ndi.sum(prob, labels, index=np.arange(1, n + 1))
    best = int(np.argmax(mass)) + 1
    comp = labels == best
    area = int(comp.sum())
    radius = math.sqrt(area / math.pi)
    extent = fov if fov is not None else np.ones(prob.shape, bool)
    rows, cols = np.nonzero(extent)
    diameter = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) if rows.size else max(prob.shape)
    if radius < MIN_RADIUS_FRACTION * diameter:
        return None, f"no optic disc found (the largest candidate, radius {radius:.1f} px, is too small)"
    weights = prob * comp
    total = float(weights.sum())
    yy, xx = np.nonzero(comp)
    w = weights[yy, xx]
    confidence = float(w.mean())
    if confidence < min_confidence:
        return None, f"no optic disc found (best candidate's confidence {confidence:.2f} < {min_confidence})"
    return Disc(float((xx * w).sum() / total), float((yy * w).sum() / total), radius, confidence), ""


def detect_disc(image: np.ndarray, segmenter: Segmenter | None = None, fov="auto",
                weights: str | Path = DISC_WEIGHTS) -> DiscSearch:
    """Find the optic disc in a photograph (RGB array); ``segmenter``: a loaded disc model to reuse."""
    segmenter = segmenter or Segmenter(weights)
    result: SegmentResult = segmenter.run(image, fov=fov)
    disc, reason = disc_from_probability(result.prob, result.fov)
    return DiscSearch(disc, reason, result.prob)
