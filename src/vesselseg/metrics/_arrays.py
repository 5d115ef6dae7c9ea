"""Input coercion shared by the metric functions: tensors or arrays -> flat numpy vectors."""

from __future__ import annotations

import numpy as np

from vesselseg.errors import InputError


def as_numpy(x) -> np.ndarray:
    """numpy view of a numpy array, a torch tensor (any device) or a nested sequence."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def as_bool(x: np.ndarray) -> np.ndarray:
    """Binary mask: ``bool`` kept, anything else is ``x > 0.5`` (0/1 floats, 0/1 or 0/255 ints)."""
    return x if x.dtype == bool else x > 0.5


def same_shape(name: str, a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``a`` with the shape of ``ref``; leading/trailing singleton axes may differ (``(1,1,H,W)``
    vs ``(H, W)``), anything else raises :class:`InputError` naming both shapes."""
    if a.shape == ref.shape:
        return a
    if np.squeeze(a).shape == np.squeeze(ref).shape:
        return a.reshape(ref.shape)
    raise InputError(f"{name} has shape {a.shape} but the prediction has shape {ref.shape}")


def inside(prob, label, fov=None) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``(N,)`` prediction values and ``bool`` labels of the pixels inside ``fov``.

    Args:
        prob: probabilities or a binary prediction, any shape (typically ``(H, W)``).
        label: ground truth of the same shape (bool, 0/1 or 0/255).
        fov: ``bool`` mask of the same shape, or None for the whole image.
    """
    p = as_numpy(prob)
    y = as_bool(same_shape("label", as_numpy(label), p))
    if fov is None:
        return p.reshape(-1), y.reshape(-1)
    m = as_bool(same_shape("fov", as_numpy(fov), p))
    return p[m], y[m]
