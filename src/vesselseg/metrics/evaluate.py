"""Evaluate a test set: per-image scores, their mean/std over images, and pooled scores.

Two reductions, named in the result because published numbers use both:

* ``"pooled"`` (micro): the confusion counts of all images are summed and the AUCs are computed on
  all pixels of all images together, as if the test set were one big image. This is what the
  retina-unet / VesselSeg-Pytorch protocol and most vessel papers report.
* ``"mean"`` / ``"std"`` (macro): each image is scored alone (``"per_image"``) and the scores are
  averaged; ``std`` is the population standard deviation (``ddof=0``) over images. A score that
  is undefined for an image (``nan``: an AUC of an image with one class only) is skipped in the
  mean and std; a score undefined for every image gives ``nan``.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from vesselseg.errors import InputError
from vesselseg.metrics._arrays import inside
from vesselseg.metrics.confusion import SCORE_NAMES, Counts, confusion, scores
from vesselseg.metrics.ranking import RANKING_NAMES, PixelPool, pr_auc, roc_auc

#: Every score in a result dict, in report order.
METRIC_NAMES = SCORE_NAMES + RANKING_NAMES

REDUCTIONS = {
    "pooled": "all pixels of all images pooled (counts summed; AUCs over all pixels at once)",
    "mean": "mean over images of the per-image scores (nan-valued images skipped)",
    "std": "population standard deviation (ddof=0) over images of the per-image scores",
}


def _mean_std(values: Iterable[float]) -> tuple[float, float]:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    m = sum(vals) / len(vals)
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals))


class Evaluator:
    """Accumulator over test images: scores each image and pools counts and pixels.

    Args:
        threshold: decision threshold for the thresholded scores (``prob >= threshold``).
        zero_division: value of a ratio with a zero denominator (see :mod:`.confusion`).
    """

    def __init__(self, threshold: float = 0.5, zero_division: float = 1.0) -> None:
        self.threshold = float(threshold)
        self.zero_division = float(zero_division)
        self.counts = Counts()
        self.pool = PixelPool()
        self.per_image: list[dict[str, float]] = []
        self._regions: set[str] = set()

    def add(self, prob, label, fov=None) -> dict[str, float]:
        """Score one image (``(H, W)`` probabilities, label, optional FOV) and pool it.

        Returns that image's scores (keys :data:`METRIC_NAMES`).
        """
        p, y = inside(prob, label, fov)  # flat FOV pixels, extracted once for all scores
        c = confusion(p, y, threshold=self.threshold)
        row = scores(c, self.zero_division)
        row["auc"] = roc_auc(p, y)
        row["pr_auc"] = pr_auc(p, y)
        self.counts = self.counts + c
        self.pool.add(p, y)
        self.per_image.append(row)
        self._regions.add("image" if fov is None else "fov")
        return row

    def pooled(self) -> dict[str, float]:
        """Scores of all pixels of all images pooled (keys :data:`METRIC_NAMES`)."""
        out = scores(self.counts, self.zero_division)
        out["auc"] = self.pool.roc_auc()
        out["pr_auc"] = self.pool.pr_auc()
        return out

    def result(self) -> dict:
        """``{"pooled", "per_image", "mean", "std", "counts", "n_images", "threshold", "region",
        "reductions"}``; ``region`` is ``"fov"``, ``"image"`` (no FOV given) or ``"mixed"``."""
        if not self.per_image:
            raise InputError("no images to evaluate")
        mean, std = {}, {}
        for k in METRIC_NAMES:
            mean[k], std[k] = _mean_std(row[k] for row in self.per_image)
        region = next(iter(self._regions)) if len(self._regions) == 1 else "mixed"
        return {
            "pooled": self.pooled(),
            "per_image": list(self.per_image),
            "mean": mean,
            "std": std,
            "counts": self.counts.as_dict(),
            "n_images": len(self.per_image),
            "threshold": self.threshold,
            "region": region,
            "reductions": dict(REDUCTIONS),
        }


def evaluate_images(
    probs: Sequence,
    labels: Sequence,
    fovs: Sequence | None = None,
    threshold: float = 0.5,
    zero_division: float = 1.0,
) -> dict:
    """Evaluate a list of images: per-image, mean/std over images, and pooled scores.

    Args:
        probs: ``(H, W)`` probability maps (numpy or torch), one per image; sizes may differ.
        labels: matching ground truths.
        fovs: matching ``bool`` FOV masks, or None (whole images); single entries may be None.
        threshold: decision threshold (``prob >= threshold`` is vessel).
        zero_division: value of a ratio with a zero denominator.

    Returns:
        dict, see :meth:`Evaluator.result`: ``"pooled"`` (every score incl. ``auc`` and
        ``pr_auc`` over all pixels pooled), ``"per_image"`` (list of dicts), ``"mean"`` and
        ``"std"`` (over images), ``"counts"`` (pooled tp/fp/fn/tn) and bookkeeping.
    """
    probs, labels = list(probs), list(labels)
    fovs = [None] * len(probs) if fovs is None else list(fovs)
    if not (len(probs) == len(labels) == len(fovs)):
        raise InputError(f"got {len(probs)} predictions, {len(labels)} labels and {len(fovs)} FOV masks")
    ev = Evaluator(threshold, zero_division)
    for p, y, m in zip(probs, labels, fovs):
        ev.add(p, y, m)
    return ev.result()
