"""Segmenting photographs with trained weights: resolution policy, single images, batches.

Names are imported on first use (PEP 562): :mod:`.inputs` (listing a batch's files) and
:mod:`.resolution` do not import torch, so ``vesselseg measure`` on masks stays light.
"""

from __future__ import annotations

from vesselseg._lazy import lazy_exports

_EXPORTS = {
    "ArteryVeinClassifier": "av", "ArteryVeinResult": "av", "av_colour_image": "av",
    "ArraySource": "batch", "BatchReport": "batch", "ImageSummary": "batch", "segment_files": "batch",
    "collect_inputs": "inputs", "output_paths": "outputs", "overlay": "outputs",
    "Segmenter": "segmenter", "SegmentResult": "segmenter",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
