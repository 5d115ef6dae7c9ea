"""Segmenting photographs with trained weights: resolution policy, single images, batches.

Names are imported on first use (PEP 562): :mod:`.inputs` (listing a batch's files) and
:mod:`.resolution` do not import torch, so ``vesselseg measure`` on masks stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ArraySource": "batch", "BatchReport": "batch", "ImageSummary": "batch", "segment_files": "batch",
    "collect_inputs": "inputs", "output_paths": "outputs", "overlay": "outputs",
    "Segmenter": "segmenter", "SegmentResult": "segmenter",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
