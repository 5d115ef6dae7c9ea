"""Artery/vein metrics: per-class Dice and the A/V accuracy on centreline pixels.

Definitions (class maps as :mod:`vesselseg.io.av`: 0 background, 1 artery, 2 vein, 3 crossing,
4 uncertain; predictions hold 0, 1, 2):

* **artery Dice / vein Dice** -- pixels inside the FOV: predicted artery vs ground-truth artery or
  crossing (vein alike); ground-truth *uncertain* pixels are left out of both.
* **centreline** -- the skeleton of the ground-truth vessels (every labelled class), restricted to
  the pixels labelled artery or vein (crossings and uncertain vessels have no single answer).
* **accuracy on the ground-truth centreline** -- the classifier judged alone: it is run on the
  ground-truth vessel mask (``on_truth``), and the share of centreline pixels it names right.
* **accuracy on the detected centreline** -- the whole chain: the centreline pixels that the
  predicted vessel mask covers, and the share of them named right; ``detected`` is the covered
  fraction of the centreline.

Every score comes with its counts (:class:`AVCounts`, summable), so a test set is pooled by adding
the counts of its images, as the vessel metrics are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from vesselseg.io.av import ARTERY, BACKGROUND, CROSSING, UNCERTAIN, VEIN


@dataclass
class AVCounts:
    """Pixel counts behind the A/V scores of one image (or, summed, of a set)."""

    artery_tp: int = 0
    artery_fp: int = 0
    artery_fn: int = 0
    vein_tp: int = 0
    vein_fp: int = 0
    vein_fn: int = 0
    centreline: int = 0  # ground-truth artery/vein centreline pixels
    truth_correct: int = 0  # ... named right by the classifier run on the ground-truth vessels
    detected: int = 0  # ... covered by the predicted vessel mask
    detected_correct: int = 0  # ... of those, named right by the whole chain

    def __add__(self, other: "AVCounts") -> "AVCounts":
        return AVCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scores(self) -> dict[str, float | None]:
        """``artery_dice``, ``vein_dice``, ``acc_truth_centreline``, ``acc_detected_centreline``,
        ``detected_fraction`` (None where the denominator is 0)."""

        def ratio(a: float, b: float) -> float | None:
            return a / b if b else None

        return {
            "artery_dice": ratio(2 * self.artery_tp, 2 * self.artery_tp + self.artery_fp + self.artery_fn),
            "vein_dice": ratio(2 * self.vein_tp, 2 * self.vein_tp + self.vein_fp + self.vein_fn),
            "acc_truth_centreline": ratio(self.truth_correct, self.centreline),
            "acc_detected_centreline": ratio(self.detected_correct, self.detected),
            "detected_fraction": ratio(self.detected, self.centreline),
        }

    def to_dict(self) -> dict:
        return asdict(self)


def truth_centreline(truth: np.ndarray) -> np.ndarray:
    """Ground-truth centreline pixels labelled artery or vein (bool ``(H, W)``)."""
    from skimage.morphology import skeletonize

    return skeletonize(truth != BACKGROUND) & np.isin(truth, (ARTERY, VEIN))


def av_counts(pred: np.ndarray, truth: np.ndarray, fov: np.ndarray | None = None,
              on_truth: np.ndarray | None = None) -> AVCounts:
    """Counts of one image.

    Args:
        pred: predicted classes ``(H, W)`` (0, 1, 2) from the whole chain.
        truth: ground-truth classes ``(H, W)`` (0-4).
        fov: where the Dice is counted (None: the whole frame).
        on_truth: classes predicted on the ground-truth vessel mask (the classifier alone); None
            leaves ``truth_correct`` at 0.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    region = np.ones(truth.shape, bool) if fov is None else np.asarray(fov, bool)
    region = region & (truth != UNCERTAIN)
    out = AVCounts()
    for name, cls in (("artery", ARTERY), ("vein", VEIN)):
        p = (pred == cls) & region
        t = np.isin(truth, (cls, CROSSING)) & region
        setattr(out, f"{name}_tp", int((p & t).sum()))
        setattr(out, f"{name}_fp", int((p & ~t).sum()))
        setattr(out, f"{name}_fn", int((~p & t).sum()))
    line = truth_centreline(truth)
    out.centreline = int(line.sum())
    if on_truth is not None:
        out.truth_correct = int((line & (on_truth == truth)).sum())
    covered = line & (pred != BACKGROUND)
    out.detected = int(covered.sum())
    out.detected_correct = int((covered & (pred == truth)).sum())
    return out
