"""Prediction of a whole probability map from one preprocessed image: the one place for it.

Modes (both return ``sigmoid(logits)``, the model's output contract being
``{"logits": (B,1,H,W), "aux": [...]}``; a bare logits tensor is accepted too):

* ``"whole"``: one forward pass over the whole image; the model pads internally. With ``tile``
  set and an image larger than ``tile`` on a side, overlapping ``tile`` x ``tile`` tiles (1/8
  overlap, Gaussian-weighted blending) bound the memory of very large photographs.
* ``"sliding"``: the paper's protocol — ``window`` x ``window`` windows every ``stride`` pixels,
  probabilities (not logits) averaged with uniform weights where windows overlap, stitched to the
  full image, by ``monai.inferers.sliding_window_inference`` (``mode="constant"``, zero padding
  for images smaller than a window). Window placement: :mod:`vesselseg.inference.windows`.

``tta=True`` averages the identity and the horizontally and vertically flipped predictions, in
either mode. On CPU the sliding window costs ~13x the whole-image pass for the same F1
(docs/throughput.md; SPEC 2).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from vesselseg.errors import ConfigError, InputError
from vesselseg.inference.tta import flip_average
from vesselseg.inference.windows import PAPER_STRIDE, PAPER_WINDOW, check_window, monai_overlap
from vesselseg.vocabulary import MODES


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """Network input ``(H, W)`` (grey) or ``(C, H, W)`` -> ``float32`` tensor ``(1, C, H, W)`` (a
    copy, values unchanged)."""
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise InputError(f"expected a grey image (H, W) or channels (C, H, W), got an array of shape {arr.shape}")
    t = torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))
    return t[None, None] if arr.ndim == 2 else t[None]


def _as_batch(image) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        if image.ndim == 2:
            return image.float()[None, None]
        if image.ndim == 4 and image.shape[0] == 1:
            return image.float()
        raise InputError(f"expected a tensor (1, C, H, W) or (H, W), got shape {tuple(image.shape)}")
    return to_tensor(image)


def _input_channels(model) -> int | None:
    """Channels a model takes: its ``in_channels``, else its first convolution's (None: unknown,
    e.g. an ONNX Runtime wrapper, which checks its input itself)."""
    if hasattr(model, "in_channels"):
        return int(model.in_channels)
    if isinstance(model, nn.Module):
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        return first.in_channels if first is not None else None
    return None


def _logits(out) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out["logits"]


def probability_fn(model: nn.Module | Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """``(B, C, h, w) -> (B, 1, h, w)`` probabilities: ``sigmoid(model(x)["logits"])``."""
    return lambda x: torch.sigmoid(_logits(model(x)).float())


def predict(
    model: nn.Module,
    image,
    mode: str = "whole",
    window: int = PAPER_WINDOW,
    stride: int = PAPER_STRIDE,
    tta: bool = False,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = False,
    tile: int | None = None,
) -> np.ndarray:
    """Vessel probability map of one image.

    Args:
        model: a network following the output contract (logits, pre-sigmoid), or any callable
            with that contract (e.g. an ONNX Runtime session wrapper; it runs where it runs).
        image: preprocessed grey ``(H, W)`` numpy array (float32 in [0, 1]), a ``(C, H, W)``
            stack (colour models), or a tensor ``(1, C, H, W)``; any H, W.
        mode: ``"whole"`` or ``"sliding"`` (see the module doc).
        window, stride: sliding-window size and step (``0 < stride <= window``); ignored for
            ``"whole"``.
        tta: average over identity + horizontal + vertical flips.
        batch_size: windows per forward pass in ``"sliding"`` mode.
        device: where to run; given, the model is moved there; None keeps the model where it is
            (its parameters' device, CPU for a model without parameters).
        progress: show MONAI's progress bar over window batches.
        tile: ``"whole"`` mode only: the largest side processed in one pass (None: no limit);
            tiles are clipped to the image (a side shorter than ``tile`` is never padded to it).

    Returns:
        ``float32`` ``(H, W)`` probabilities in [0, 1]; ``(K, H, W)`` for a model with ``K > 1``
        output channels (the artery/vein model).

    The model runs in eval mode under ``torch.inference_mode``; its train/eval mode is restored.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown inference mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode == "sliding":
        check_window(window, stride)
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    is_module = isinstance(model, nn.Module)
    if not is_module:
        device = torch.device("cpu")
    elif device is not None:
        model.to(device)
    else:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    x = _as_batch(image).to(device)
    expected = _input_channels(model)
    if expected is not None and x.shape[1] != expected:
        raise InputError(f"the model takes {expected} input channel(s) (grey: 1; grey + colour: 4), "
                         f"got {x.shape[1]}")
    fn = probability_fn(model)
    if mode == "sliding" or (tile is not None and max(x.shape[-2:]) > int(tile)):
        # Imported here: MONAI costs ~1-2 s of start-up that a whole-image run never needs.
        from monai.inferers import sliding_window_inference
    if mode == "whole" and tile is not None and max(x.shape[-2:]) > int(tile):
        if int(tile) < 64:
            raise ConfigError(f"tile must be at least 64 pixels, got {tile}")
        whole_fn = fn
        # Tiles no larger than the image: a 20000x50 strip in 1024x1024 tiles padded to 1024
        # rows would compute 20 times its own pixels.
        roi = (min(int(tile), int(x.shape[-2])), min(int(tile), int(x.shape[-1])))
        fn = lambda t: sliding_window_inference(  # noqa: E731
            t, roi_size=roi, sw_batch_size=1, predictor=whole_fn, overlap=0.125,
            mode="gaussian", padding_mode="replicate", progress=progress,
        )
    if mode == "sliding":
        whole_fn = fn
        fn = lambda t: sliding_window_inference(  # noqa: E731
            t,
            roi_size=(window, window),
            sw_batch_size=int(batch_size),
            predictor=whole_fn,
            overlap=monai_overlap(window, stride),
            mode="constant",
            padding_mode="constant",
            cval=0.0,
            progress=progress,
        )
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
    try:
        with torch.inference_mode():
            probs = flip_average(fn, x) if tta else fn(x)
    finally:
        if is_module:
            model.train(was_training)
    out = probs[0].float().cpu().numpy()
    out = out[0] if out.shape[0] == 1 else out
    return np.clip(out, 0.0, 1.0, out=out)
