"""Threshold-free scores from probabilities: ROC-AUC, PR-AUC (average precision), ROC curve.

All three use scikit-learn on the pixels inside the FOV. :class:`PixelPool` keeps the FOV pixels of
many images (``float32`` probabilities + ``bool`` labels: 5 bytes a pixel, ~23 MB for the 20 DRIVE
test images) so the **pooled** AUC over all test pixels can be computed at the end.

Undefined values: with only one class inside the region (no vessel pixel, or nothing but vessel)
there is no ranking to judge and both AUCs are ``nan`` (documented, no warning); a mean over
images then skips such images (see :mod:`vesselseg.metrics.evaluate`).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from vesselseg.metrics._arrays import inside

#: The threshold-free scores, in the order they are reported.
RANKING_NAMES = ("auc", "pr_auc")


def _both_classes(y: np.ndarray) -> bool:
    n_pos = int(np.count_nonzero(y))
    return 0 < n_pos < y.size


def _roc_auc(p: np.ndarray, y: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if _both_classes(y) else float("nan")


def _pr_auc(p: np.ndarray, y: np.ndarray) -> float:
    return float(average_precision_score(y, p)) if _both_classes(y) else float("nan")


def _downsample_curve(fpr: np.ndarray, tpr: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` curve points spread evenly along the curve's length
    (even spacing in index would put them all where the pixels are dense); ends always kept."""
    n = fpr.size
    if n <= max_points:
        return np.arange(n)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(fpr), np.diff(tpr)))])
    targets = np.linspace(0.0, arc[-1], max_points - 1)  # + the last point below = max_points
    idx = np.minimum(np.searchsorted(arc, targets), n - 1)
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def _roc_points(p: np.ndarray, y: np.ndarray, max_points: int):
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if not _both_classes(y):
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty.copy(), empty.copy()
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=True)
    keep = _downsample_curve(fpr, tpr, max_points)
    return fpr[keep], tpr[keep], thr[keep]


def roc_auc(prob, label, fov=None) -> float:
    """Area under the ROC curve of ``prob`` (any shape) against ``label`` inside ``fov``.

    ``sklearn.metrics.roc_auc_score`` (exact, ties handled); ``nan`` if only one class is present.
    """
    return _roc_auc(*inside(prob, label, fov))


def pr_auc(prob, label, fov=None) -> float:
    """Area under the precision-recall curve as **average precision**
    (``sklearn.metrics.average_precision_score``: step-wise sum, no optimistic trapezoids);
    ``nan`` if only one class is present."""
    return _pr_auc(*inside(prob, label, fov))


def roc_curve_points(prob, label, fov=None, max_points: int = 2000):
    """ROC curve for plotting: ``(fpr, tpr, thresholds)``, each ``(K,)`` with ``K <= max_points``.

    ``sklearn.metrics.roc_curve`` (with its ``drop_intermediate``) thinned evenly along the curve's
    length; the first point is (0, 0) with threshold ``inf`` and the last is (1, 1), as in sklearn.
    Empty arrays if only one class is present.
    """
    return _roc_points(*inside(prob, label, fov), max_points)


class PixelPool:
    """Collects the FOV pixels of many images for pooled threshold-free scores.

    >>> pool = PixelPool()
    >>> for prob, label, fov in images:       # doctest: +SKIP
    ...     pool.add(prob, label, fov)
    >>> pool.roc_auc(), pool.pr_auc()         # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._probs: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def add(self, prob, label, fov=None) -> None:
        """Keep the pixels of one image inside ``fov`` (as ``float32`` / ``bool``)."""
        p, y = inside(prob, label, fov)
        self._probs.append(np.asarray(p, dtype=np.float32))
        self._labels.append(np.asarray(y, dtype=bool))

    def __len__(self) -> int:
        """Number of images added."""
        return len(self._probs)

    @property
    def n_pixels(self) -> int:
        return int(sum(p.size for p in self._probs))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All pooled pixels: ``float32 (N,)`` probabilities and ``bool (N,)`` labels."""
        if not self._probs:
            return np.zeros(0, np.float32), np.zeros(0, bool)
        return np.concatenate(self._probs), np.concatenate(self._labels)

    def roc_auc(self) -> float:
        return _roc_auc(*self.arrays())

    def pr_auc(self) -> float:
        return _pr_auc(*self.arrays())

    def roc_curve_points(self, max_points: int = 2000):
        return _roc_points(*self.arrays(), max_points)
