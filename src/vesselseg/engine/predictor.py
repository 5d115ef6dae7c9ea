"""A trained model plus the preprocessing it was trained with: photograph in, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vesselseg.engine.weights import load_model
from vesselseg.errors import ConfigError
from vesselseg.preprocess import NormStats, PreprocessConfig, preprocess


BACKENDS = ("torch", "onnxruntime")
#: DBPF strip context at inference: ``"patch"`` (rows/columns averaged over the training patch's
#: extent, the default) or ``"global"`` (whole rows/columns, as in training; see
#: :mod:`vesselseg.models.layers.dbpf`).
DBPF_CONTEXTS = ("patch", "global")


def _check_context(context: str) -> None:
    if context not in DBPF_CONTEXTS:
        raise ConfigError(f"unknown DBPF context {context!r}; choose one of: {', '.join(DBPF_CONTEXTS)}")


def apply_inference_context(model: torch.nn.Module, card: dict, context: str = "patch") -> int:
    """Set ``model``'s DBPF strip context for inference from its card's training patch size.
    Returns the number of DBPF modules (0: nothing to set)."""
    from vesselseg.models.layers import set_strip_context

    _check_context(context)
    patch = (card.get("protocol") or {}).get("patch_size") if context == "patch" else None
    return set_strip_context(model, patch)


class Predictor:
    """Loads weights + model card once; :meth:`__call__` maps RGB ``(H, W, 3)`` -> prob ``(H, W)``.

    The preprocessing (grey, standardisation statistics, CLAHE, gamma) is read from the model card,
    so inference repeats exactly what training did. ``backend="onnxruntime"`` runs the same
    weights through ONNX Runtime (exported once and cached, see :mod:`vesselseg.export`); a
    ``.onnx`` file as ``weights`` always does. ``dbpf_context``: see :data:`DBPF_CONTEXTS`
    (exports carry ``"patch"``).
    """

    def __init__(self, weights: str | Path = "drive", model: torch.nn.Module | None = None, card: dict | None = None,
                 backend: str = "torch", dbpf_context: str = "patch"):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        _check_context(dbpf_context)
        onnx = backend == "onnxruntime" or (model is None and str(weights).lower().endswith(".onnx"))
        if onnx and dbpf_context != "patch":
            raise ConfigError("ONNX exports carry the patch DBPF context; use the torch backend for 'global'")
        if model is None:
            if onnx:
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
        # The DBPF context in force (None: no DBPF in a torch model, or an ONNX graph).
        self.dbpf_context = None
        if isinstance(model, torch.nn.Module) and apply_inference_context(model, self.card, dbpf_context):
            self.dbpf_context = dbpf_context
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
