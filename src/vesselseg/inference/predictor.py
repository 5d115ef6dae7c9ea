"""A trained model plus the preprocessing it was trained with: photograph in, probabilities out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vesselseg.errors import ConfigError, InputError
from vesselseg.inference.prediction import predict
from vesselseg.inference.weights import check_card, load_model
from vesselseg.models.layers import set_pooling_context
from vesselseg.preprocess import NormStats, PreprocessConfig, model_input
from vesselseg.vocabulary import BACKENDS, POOLING_CONTEXTS

# Pooling context at inference (vocabulary.POOLING_CONTEXTS) of the modules that pool over the
# whole map in training (DBPF's strips, SE, CBAM, coordinate attention, scSE): "patch" (over a
# window as large as the training patch, the default) or "global" (the whole input, literally as
# in training; see vesselseg.models.layers.pooling_context).


def _check_context(context: str) -> None:
    if context not in POOLING_CONTEXTS:
        raise ConfigError(f"unknown pooling context {context!r}; choose one of: {', '.join(POOLING_CONTEXTS)}")


def apply_inference_context(model: torch.nn.Module, card: dict, context: str = "patch") -> int:
    """Set ``model``'s pooling context for inference from its card's training patch size.
    Returns the number of modules with one (0: nothing to set)."""
    _check_context(context)
    patch = (card.get("protocol") or {}).get("patch_size") if context == "patch" else None
    return set_pooling_context(model, patch)


def model_labels(card: dict) -> str:
    """What a model's card says it segments: ``vessels`` (one map; cards older than the field) or ``av``."""
    model = card.get("model") or {}
    if model.get("labels") == "av" or int(model.get("out_channels") or 1) != 1:
        return "av"
    return "vessels"


def check_task(card: dict, expect: str | None, weights) -> None:
    """InputError when ``weights`` are not the kind of model the caller runs (None: any kind)."""
    if expect is None:
        return
    labels = model_labels(card)
    if labels != expect:
        raise InputError(f"{weights}: an artery/vein model, not a vessel model; use it as --av-weights"
                         if labels == "av" else
                         f"{weights}: not an artery/vein model (its card names no artery and vein outputs); "
                         "use --av-weights av")


class Predictor:
    """Loads weights + model card once; :meth:`__call__` maps RGB ``(H, W, 3)`` -> prob ``(H, W)``.

    The preprocessing (grey, standardisation statistics, CLAHE, gamma) is read from the model card,
    so inference repeats exactly what training did. ``backend="onnxruntime"`` runs the same
    weights through ONNX Runtime (exported once and cached, see :mod:`vesselseg.inference.onnx`); a
    ``.onnx`` file as ``weights`` always does. ``context``: see :data:`POOLING_CONTEXTS`
    (exports carry ``"patch"``). ``expect``: the kind of model the caller runs, ``vessels`` or
    ``av`` (the artery/vein model); other weights are refused with an :class:`InputError` (None:
    any kind).
    """

    def __init__(self, weights: str | Path = "drive", model: torch.nn.Module | None = None, card: dict | None = None,
                 backend: str = "torch", context: str = "patch", expect: str | None = "vessels"):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        _check_context(context)
        onnx = backend != "torch" or (model is None and str(weights).lower().endswith(".onnx"))
        if onnx and context != "patch":
            raise ConfigError("ONNX exports carry the patch pooling context; use the torch backend for 'global'")
        if model is None:
            if onnx:
                from vesselseg.inference.onnx import OnnxModel, onnx_for_weights

                model = OnnxModel(onnx_for_weights(weights, int8=backend == "onnxruntime-int8"))
                card = model.card
                if backend == "onnxruntime-int8" and not card.get("quantisation"):
                    raise InputError(f"{weights}: --backend onnxruntime-int8 needs an int8 file, and this one is "
                                     "not quantised; use --backend onnxruntime, or make one with `vesselseg "
                                     "export --int8 --calibrate PHOTOS`")
                backend = "onnxruntime-int8" if card.get("quantisation") else "onnxruntime"
                check_card(card, f"{model.path} (model card inside)")
            else:
                model, card = load_model(weights)
                # NHWC: oneDNN's faster convolution layout on CPU (1.3-1.6x here, both modes).
                model.eval().to(memory_format=torch.channels_last)
        self.model = model
        self.backend = backend
        self.card = card or {}
        # The pooling context in force (None: no global pooling in a torch model, or an ONNX graph).
        self.context = None
        if isinstance(model, torch.nn.Module) and apply_inference_context(model, self.card, context):
            self.context = context
        check_task(self.card, expect, weights)
        self.pcfg = PreprocessConfig.from_dict(self.card.get("preprocess"))
        stats = self.card.get("stats")
        self.stats = NormStats.from_dict(stats) if stats else None

    @property
    def training_patch(self) -> int | None:
        """The side of the square patches the network trained on (None: not on the card)."""
        patch = (self.card.get("protocol") or {}).get("patch_size")
        return int(patch) if patch else None

    def padded_training_patch(self) -> tuple[int, int] | None:
        """``(patch, padded)`` when the network padded its square training patches internally (a
        patch side not a multiple of its ``size_multiple``: CE-Net's 32 against 48-px patches gives
        ``(48, 64)``), else None (or unknown: no patch size on the card, an ONNX graph).

        The loss saw only the patch, so in a window larger than ``patch`` the output rows and
        columns past it are positions the network was never trained on; a sliding window of
        ``patch`` pixels repeats the training geometry exactly.
        """
        patch, multiple = self.training_patch, int(getattr(self.model, "size_multiple", 1) or 1)
        if patch is None or patch % multiple == 0:
            return None
        return patch, -(-patch // multiple) * multiple

    def preprocess(self, rgb: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
        """The network input: grey ``(H, W)``, or ``(4, H, W)`` for a colour model."""
        return model_input(rgb, self.stats, self.pcfg, fov=fov)

    def predict_grey(self, grey: np.ndarray, mode: str = "whole", tta: bool = False, **kw) -> np.ndarray:
        return predict(self.model, grey, mode=mode, tta=tta, **kw)

    def __call__(self, rgb: np.ndarray, fov: np.ndarray | None = None, mode: str = "whole",
                 tta: bool = False, **kw) -> np.ndarray:
        return self.predict_grey(self.preprocess(rgb, fov), mode=mode, tta=tta, **kw)
