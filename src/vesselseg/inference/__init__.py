"""Inference: trained weights -> probabilities, with PyTorch or ONNX Runtime. Below the training
engine: segmenting, measuring, evaluating and training all use it; it uses none of them.

- :mod:`.weights` -- safetensors + model card <-> a ready model (:func:`load_model`, shipped names);
- :mod:`.predictor` -- :class:`Predictor`: photograph in, probabilities out, preprocessing from the card;
- :mod:`.prediction` -- whole-image and sliding-window prediction -> ``float32 (H, W)``;
- :mod:`.windows`, :mod:`.tta` -- the sliding-window geometry, flip test-time augmentation;
- :mod:`.onnx` -- ONNX export (model card inside) and an ONNX Runtime model with the torch contract.

Names are imported on first use (PEP 562), so ``vesselseg.inference.weights`` -- listing shipped
weights for the web server or ``--help`` -- does not import torch.
"""

from __future__ import annotations

from vesselseg._lazy import lazy_exports

_EXPORTS = {
    "MODES": "prediction", "predict": "prediction", "probability_fn": "prediction", "to_tensor": "prediction",
    "FLIPS": "tta", "flip_average": "tta",
    "window_starts": "windows", "coverage": "windows", "monai_overlap": "windows",
    "PAPER_WINDOW": "windows", "PAPER_STRIDE": "windows",
    "Predictor": "predictor", "apply_inference_context": "predictor", "POOLING_CONTEXTS": "predictor",
    "load_model": "weights", "resolve_weights": "weights", "shipped_weights": "weights",
    "save_weights": "weights", "read_card": "weights",
    "OnnxModel": "onnx", "export_onnx": "onnx", "onnx_for_weights": "onnx", "have_onnxruntime": "onnx",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
