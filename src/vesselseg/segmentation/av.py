"""Arteries and veins: the vessel mask of a photograph split into artery and vein.

Two models, each doing what it is best at: the vessel model (:class:`.Segmenter`, any ``--weights``)
decides *where* the vessels are; the artery/vein model (``--weights av``,
``configs/av/av_unet.yaml``: artery and vein probability maps from grey + colour input) decides
*which* each vessel pixel is, through the same resolution policy. A pixel's own vote is
``p_artery - p_vein``; with ``vote="segment"`` (the default) every vessel pixel instead takes the
summed vote of its skeleton segment (:func:`segment_vote`), because a vessel does not change class
between two branchings, and single pixels flip where the colour cue is weak (thin vessels, central
reflex, the rim).

Output classes use :mod:`vesselseg.io.av`'s indices: 0 background, 1 artery, 2 vein -- written as
the common annotation colours (red artery, blue vein on black) by :func:`av_colour_image`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from vesselseg.errors import ConfigError, InputError
from vesselseg.io.av import ARTERY, AV_COLOURS, BACKGROUND, VEIN
from vesselseg.segmentation.outputs import overlay
from vesselseg.segmentation.segmenter import Segmenter

#: Weights of the artery/vein model shipped with the package.
AV_WEIGHTS = "av"
#: How vessel pixels get their class: their own probabilities, or their skeleton segment's sum.
VOTES = ("segment", "pixel")
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class ArteryVeinResult:
    """Classes and probabilities on the photograph's grid ``(H, W)``."""

    classes: np.ndarray  # uint8 (H, W): 0 background, 1 artery, 2 vein
    artery_prob: np.ndarray  # float32 (H, W)
    vein_prob: np.ndarray  # float32 (H, W)
    seconds: float

    @property
    def artery_fraction(self) -> float:
        """Artery pixels / classified vessel pixels (0 when there are none)."""
        n = int((self.classes != BACKGROUND).sum())
        return float((self.classes == ARTERY).sum()) / n if n else 0.0


def pixel_classes(vessels: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each vessel pixel by its own vote: artery where ``score = p_artery - p_vein > 0``, else vein."""
    out = np.zeros(vessels.shape, np.uint8)
    out[vessels & (score > 0)] = ARTERY
    out[vessels & ~(score > 0)] = VEIN
    return out


def skeleton_segments(vessels: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the centreline pieces between branchings: ``(labels (H, W) int32, count)``.

    The skeleton (scikit-image) is cut at its junction pixels (3 or more skeleton neighbours),
    each junction grown by one pixel so the pieces meeting there do not touch.
    """
    from skimage.morphology import skeletonize

    skel = skeletonize(vessels)
    neighbours = ndi.convolve(skel.astype(np.uint8), _EIGHT.astype(np.uint8), mode="constant") - 1
    junctions = ndi.binary_dilation(skel & (neighbours >= 3), structure=_EIGHT)
    labels, n = ndi.label(skel & ~junctions, structure=_EIGHT)
    return labels.astype(np.int32), int(n)


def segment_vote(vessels: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Class map by skeleton segment: every vessel pixel joins the nearest centreline piece of its
    own connected component (:func:`skeleton_segments`), and each piece takes the sign of the
    summed ``score`` of its pixels (artery when positive). Pixels of components too small to have
    a centreline piece keep their own vote."""
    vessels = np.asarray(vessels, bool)
    labels, n = skeleton_segments(vessels)
    out = pixel_classes(vessels, score)
    if n == 0:
        return out
    owner = np.zeros(vessels.shape, np.int32)
    comp, _ = ndi.label(vessels, structure=_EIGHT)
    # per component, within its bounding box: a wide vessel's edge must not join the piece of a
    # thin vessel running beside it, however close
    for index, box in enumerate(ndi.find_objects(comp), start=1):
        if box is None:
            continue
        inside = comp[box] == index
        pieces = np.where(inside, labels[box], 0)
        if not pieces.any():
            continue
        rr, cc = ndi.distance_transform_edt(pieces == 0, return_distances=False, return_indices=True)
        owner[box][inside] = pieces[rr, cc][inside]
    votes = ndi.sum(np.where(vessels, score, 0.0), owner, index=np.arange(1, n + 1))
    seg_class = np.where(np.asarray(votes) > 0, ARTERY, VEIN).astype(np.uint8)
    owned = owner > 0
    out[owned] = seg_class[owner[owned] - 1]
    return out


def av_colour_image(classes: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8: black background, red (255, 0, 0) artery, blue (0, 0, 255) vein."""
    return AV_COLOURS[np.clip(classes, 0, 2)].astype(np.uint8)


#: Zone B's inner and outer radii in disc radii (0.5-1 disc diameter from the margin).
ZONE_B_RADII = (2, 3)


def av_overlay(rgb: np.ndarray, classes: np.ndarray, fov: np.ndarray | None = None,
               disc: tuple[float, float, float] | None = None) -> np.ndarray:
    """The photograph with arteries painted red and veins blue (``uint8`` RGB); with ``disc``
    ``(x, y, r)`` also the disc circle (white) and zone B's two circles (yellow)."""
    import cv2

    out = overlay(rgb, classes == ARTERY, colour=(255, 0, 0), alpha=0.75, fov=fov)
    out = overlay(out, classes == VEIN, colour=(0, 80, 255), alpha=0.75)
    if disc is not None:
        x, y, r = disc
        thick = max(1, round(max(classes.shape) / 500))
        centre = (round(x), round(y))
        cv2.circle(out, centre, round(r), (255, 255, 255), thick, cv2.LINE_AA)
        for k in ZONE_B_RADII:
            cv2.circle(out, centre, round(k * r), (255, 220, 0), thick, cv2.LINE_AA)
    return out


class ArteryVeinClassifier:
    """The artery/vein model loaded once; :meth:`classify` splits a vessel mask into arteries and veins.

    Args:
        weights: the artery/vein model (shipped name ``av``, a ``.safetensors`` file or a run folder).
        vote: ``segment`` (default) or ``pixel`` (see the module doc).
        **kw: :class:`.Segmenter` options (``scale``, ``tta``, ``backend``, ``tile``).
    """

    def __init__(self, weights: str | Path = AV_WEIGHTS, vote: str = "segment", **kw):
        if vote not in VOTES:
            raise ConfigError(f"unknown vote {vote!r}; choose one of: {', '.join(VOTES)}")
        self.segmenter = Segmenter(weights, expect="av", **kw)
        self.vote = vote
        card = self.segmenter.card
        #: What the measurement rows name as the source of their classes: the model and, where its
        #: card states one, its standing (a model below the project's accuracy targets says so).
        self.description = str(card.get("name") or weights) + (f" ({card['status']})" if card.get("status") else "")

    def probabilities(self, image: np.ndarray, fov="auto", name: str | None = None) -> np.ndarray:
        """``(2, H, W)`` artery and vein probabilities of a photograph."""
        return self.segmenter.run(image, fov=fov, name=name).prob

    def classify(self, image: np.ndarray, vessels: np.ndarray, fov="auto", name: str | None = None
                 ) -> ArteryVeinResult:
        """Split ``vessels`` (bool ``(H, W)``, from any vessel model or a manual mask) into arteries and veins."""
        t0 = time.perf_counter()
        vessels = np.asarray(vessels, bool)
        prob = self.probabilities(image, fov=fov, name=name)
        if prob.shape[-2:] != vessels.shape:
            raise InputError(f"the vessel mask is {vessels.shape[1]}x{vessels.shape[0]} but the photograph is "
                             f"{prob.shape[-1]}x{prob.shape[-2]}")
        score = prob[0] - prob[1]
        classes = segment_vote(vessels, score) if self.vote == "segment" else pixel_classes(vessels, score)
        return ArteryVeinResult(classes, prob[0], prob[1], time.perf_counter() - t0)
