"""The embedded sample photograph: scikit-image's ``data.retina()`` (public domain, 1411x1411).

It ships inside scikit-image, so the README's main command works on a fresh machine without any
dataset or download.
"""

from __future__ import annotations

import numpy as np

SAMPLE_NAME = "sample_retina"


def sample_image() -> np.ndarray:
    """The sample fundus photograph as float32 RGB ``(H, W, 3)`` in ``[0, 1]``."""
    from skimage import data

    return data.retina().astype(np.float32) / 255.0
