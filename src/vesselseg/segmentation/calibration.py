"""Calibration inputs for int8 quantisation: the network inputs ``segment`` would feed a model.

Here, not in :mod:`vesselseg.inference.quantise`, because preparing a photograph the way
``segment`` does (FOV crop, resolution policy, the card's preprocessing) is the Segmenter's job,
one layer above inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from vesselseg.errors import InputError
from vesselseg.inference.onnx import OnnxModel
from vesselseg.segmentation.segmenter import Segmenter


class _Recorder:
    """Stands in for an :class:`OnnxModel` inside a Predictor: records each network input, runs it."""

    def __init__(self, model: OnnxModel):
        self.model, self.inputs = model, []

    def __call__(self, x):
        self.inputs.append(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32))
        return self.model(x)

    def __getattr__(self, name):
        return getattr(self.model, name)


def calibration_inputs(onnx_path: Path, photographs: Iterable) -> list[np.ndarray]:
    """The network inputs ``segment`` would feed ``onnx_path`` for ``photographs`` (RGB arrays
    or ``(rgb, fov)`` pairs): whole FOV crops, rim and surround included."""
    from vesselseg.inference.predictor import Predictor

    model = OnnxModel(onnx_path)
    recorder = _Recorder(model)
    seg = Segmenter(onnx_path, predictor=Predictor(onnx_path, model=recorder, card=model.card,
                                                   backend="onnxruntime"))
    for item in photographs:
        rgb, fov = item if isinstance(item, tuple) else (item, "auto")
        seg.run(rgb, fov=fov)
    if not recorder.inputs:
        raise InputError("int8 calibration needs at least one photograph")
    return recorder.inputs
