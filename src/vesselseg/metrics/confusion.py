"""Confusion counts inside the field of view, and every thresholded score derived from them.

One count, many scores (as smp and MONAI do): :func:`confusion` counts tp/fp/fn/tn once, over the
pixels inside the FOV; :func:`scores` derives accuracy, sensitivity, specificity, precision, F1
(= Dice), IoU (= Jaccard) and MCC from those four integers. :class:`Counts` adds with ``+``, so
summing the counts of all test images gives the **pooled** ("micro") scores, while scoring each
image's counts and averaging gives the **mean over images** ("macro") scores.

Zero denominators (documented values, never a warning):

* every ratio ``a / (a + b)`` whose denominator is 0 (its numerator is then 0 too) takes
  ``zero_division`` (default **1.0**): a question with no case to get wrong is answered
  perfectly. So an all-background label with an all-background prediction scores sensitivity,
  precision, F1 and IoU of 1.0; an all-background prediction on an image with vessels scores
  sensitivity 0, F1 0, IoU 0 and precision 1.0 (no false alarm was raised). scikit-learn's
  default is 0.0 with a warning; pass ``zero_division=0.0`` to get its numbers.
* MCC, whose denominator vanishes when the label or the prediction is constant, follows Chicco
  & Jurman (BMC Genomics 2020): +1.0 when every pixel is a tp or every pixel is a tn (perfect
  agreement), -1.0 when every pixel is an fp or every pixel is an fn, otherwise 0.0 (a constant
  prediction carries no correlation), which is also scikit-learn's value there. MCC is computed in
  floats: the product of the four marginals of a pooled test set (~10^26) overflows int64.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from vesselseg.metrics._arrays import inside

#: The thresholded scores, in the order they are reported.
SCORE_NAMES = ("accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "mcc")


@dataclass(frozen=True)
class Counts:
    """Pixel counts of one image or of many (summed with ``+``). Plain Python ints, so exact."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def __radd__(self, other):  # lets ``sum(list_of_counts)`` start from 0
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def confusion(prob_or_pred, label, fov=None, threshold: float = 0.5) -> Counts:
    """Count tp, fp, fn, tn over the pixels inside ``fov``.

    Args:
        prob_or_pred: probabilities ``(H, W)`` (numpy or torch); a pixel is predicted vessel when
            ``prob >= threshold`` (the rule of ``sklearn.metrics.roc_curve``, so a confusion at
            threshold t is a point of the ROC curve). A ``bool`` array is taken as the
            prediction itself and ``threshold`` is ignored.
        label: ground truth, same shape; ``bool``, or values > 0.5 are vessel.
        fov: ``bool`` mask, same shape; None counts the whole image.
        threshold: decision threshold on the probabilities.

    Returns:
        :class:`Counts` (``Counts.total`` = number of FOV pixels).
    """
    p, y = inside(prob_or_pred, label, fov)
    pred = p if p.dtype == bool else p >= threshold
    # Hand-written rather than MONAI's get_confusion_matrix: MONAI has no mask argument, and
    # masking by multiplication would count every pixel outside the FOV as a true negative (the
    # very error the FOV protocol avoids); it also sums in float. sklearn's confusion_matrix is
    # exact but ~10x slower (it builds a sparse matrix). One bincount over 2*label+pred is exact
    # and a single pass: index 0 = tn, 1 = fp, 2 = fn, 3 = tp.
    tn, fp, fn, tp = np.bincount(2 * y.astype(np.intp) + pred.astype(np.intp), minlength=4).tolist()
    return Counts(tp=tp, fp=fp, fn=fn, tn=tn)


def _ratio(num: int, den: int, zero_division: float) -> float:
    return num / den if den else float(zero_division)


def mcc(c: Counts) -> float:
    """Matthews correlation coefficient in [-1, 1]; zero-denominator rule in the module doc."""
    tp, fp, fn, tn = (float(v) for v in (c.tp, c.fp, c.fn, c.tn))
    den = math.sqrt(tp + fp) * math.sqrt(tp + fn) * math.sqrt(tn + fp) * math.sqrt(tn + fn)
    if den > 0:
        return (tp * tn - fp * fn) / den
    n = c.total
    if n and (c.tp == n or c.tn == n):
        return 1.0
    if n and (c.fp == n or c.fn == n):
        return -1.0
    return 0.0


def scores(counts: Counts, zero_division: float = 1.0) -> dict[str, float]:
    """Thresholded scores of one :class:`Counts` (keys in :data:`SCORE_NAMES` order).

    ``accuracy = (tp+tn)/N``, ``sensitivity = tp/(tp+fn)``, ``specificity = tn/(tn+fp)``,
    ``precision = tp/(tp+fp)``, ``f1 = 2tp/(2tp+fp+fn)`` (= Dice), ``iou = tp/(tp+fp+fn)``,
    ``mcc`` as :func:`mcc`. A zero denominator gives ``zero_division`` (see the module doc).
    """
    c, z = counts, zero_division
    return {
        "accuracy": _ratio(c.tp + c.tn, c.total, z),
        "sensitivity": _ratio(c.tp, c.tp + c.fn, z),
        "specificity": _ratio(c.tn, c.tn + c.fp, z),
        "precision": _ratio(c.tp, c.tp + c.fp, z),
        "f1": _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, z),
        "iou": _ratio(c.tp, c.tp + c.fp + c.fn, z),
        "mcc": mcc(c),
    }
