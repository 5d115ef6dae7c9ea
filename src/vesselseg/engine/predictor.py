"""A trained model plus the preprocessing it was trained with: photograph in, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vesselseg.engine.weights import load_model
from vesselseg.errors import ConfigError
from vesselseg.preprocess import NormStats, PreprocessConfig, preprocess


BACKENDS = ("torch", "onnxruntime")


class Predictor:
    """Loads weights + model card once; :meth:`__call__` maps RGB ``(H, W, 3)`` -> prob ``(H, W)``.

    The preprocessing (grey, standardisation statistics, CLAHE, gamma) is read from the model card,
    so inference repeats exactly what training did. ``backend="onnxruntime"`` runs the same
    weights through ONNX Runtime (exported once and cached, see :mod:`vesselseg.export`); a
    ``.onnx`` file as ``weights`` always does.
    """

    def __init__(self, weights: str | Path = "drive", model: torch.nn.Module | None = None, card: dict | None = None,
                 backend: str = "torch"):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        if model is None:
            if backend == "onnxruntime" or str(weights).lower().endswith(".onnx"):
                from vesselseg.export import OnnxModel, onnx_for_weights

                model = OnnxModel(onnx_for_weights(weights))
                card, backend = model.card, "onnxruntime"
            else:
                model, card = load_model(weights)
                # NHWC: oneDNN's faster convolution layout on CPU (1.3-1.6x here, both modes).
                model.eval().to(memory_format=torch.channels_last)
        self.model = model
        self.backend = backend
        self.card = card or {}
        self.pcfg = PreprocessConfig.from_dict(self.card.get("preprocess"))
        stats = self.card.get("stats")
        self.stats = NormStats.from_dict(stats) if stats else None

    def preprocess(self, rgb: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
        return preprocess(rgb, self.stats, self.pcfg, fov=fov)

    def predict_grey(self, grey: np.ndarray, mode: str = "whole", tta: bool = False, **kw) -> np.ndarray:
        from vesselseg.inference import predict

        return predict(self.model, grey, mode=mode, tta=tta, **kw)

    def __call__(self, rgb: np.ndarray, fov: np.ndarray | None = None, mode: str = "whole",
                 tta: bool = False, **kw) -> np.ndarray:
        return self.predict_grey(self.preprocess(rgb, fov), mode=mode, tta=tta, **kw)
