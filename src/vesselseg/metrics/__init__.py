"""Metrics: confusion counts inside the FOV, the scores derived from them, AUCs, evaluation.

- :func:`confusion` -> :class:`Counts` (tp, fp, fn, tn; summable with ``+``)
- :func:`scores` -> accuracy, sensitivity, specificity, precision, f1 (= Dice), iou, mcc
- :func:`roc_auc`, :func:`pr_auc`, :func:`roc_curve_points`, :class:`PixelPool` (threshold-free)
- :func:`evaluate_images` / :class:`Evaluator`: ``"pooled"`` vs ``"mean"`` over images
"""

from vesselseg.metrics.confusion import SCORE_NAMES, Counts, confusion, mcc, scores
from vesselseg.metrics.evaluate import METRIC_NAMES, REDUCTIONS, Evaluator, evaluate_images
from vesselseg.metrics.ranking import RANKING_NAMES, PixelPool, pr_auc, roc_auc, roc_curve_points

__all__ = [
    "Counts",
    "confusion",
    "scores",
    "mcc",
    "roc_auc",
    "pr_auc",
    "roc_curve_points",
    "PixelPool",
    "Evaluator",
    "evaluate_images",
    "SCORE_NAMES",
    "RANKING_NAMES",
    "METRIC_NAMES",
    "REDUCTIONS",
]
