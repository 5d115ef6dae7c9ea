"""Inference: whole-image and sliding-window prediction, flip test-time augmentation.

- :func:`predict` -> ``float32 (H, W)`` probabilities; :func:`to_tensor`
- :func:`window_starts`, :func:`coverage`: the sliding-window geometry, testable alone
"""

from vesselseg.inference.predict import MODES, predict, probability_fn, to_tensor
from vesselseg.inference.tta import FLIPS, flip_average
from vesselseg.inference.windows import PAPER_STRIDE, PAPER_WINDOW, coverage, monai_overlap, window_starts

__all__ = [
    "MODES",
    "predict",
    "probability_fn",
    "to_tensor",
    "FLIPS",
    "flip_average",
    "window_starts",
    "coverage",
    "monai_overlap",
    "PAPER_WINDOW",
    "PAPER_STRIDE",
]
