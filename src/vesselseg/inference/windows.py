"""Sliding-window geometry: where the windows go, as pure functions that can be tested alone.

MONAI's ``sliding_window_inference`` (used by :func:`vesselseg.inference.predict`) places the
windows along each axis at ``0, stride, 2*stride, ...`` while a window still fits, plus **one last
window flush with the far edge** (``length - window``) when the strided ones do not reach it. So
on DRIVE (565 x 584, window 64, stride 16) the last column window starts at 501 (not a multiple of
16) and every pixel is covered by 1 to 4 windows per axis. An axis shorter than the window is
zero-padded symmetrically to the window size (``(window - length) // 2`` pixels before) and holds a
single window, which starts at a negative offset in image coordinates.
"""

from __future__ import annotations

import numpy as np

from vesselseg.errors import ConfigError

#: The paper's sliding-window protocol: 64 x 64 windows every 16 pixels.
PAPER_WINDOW, PAPER_STRIDE = 64, 16


def check_window(window: int, stride: int) -> None:
    """ConfigError unless ``0 < stride <= window`` (a larger stride would leave gaps)."""
    if int(window) != window or int(stride) != stride or window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be positive integers, got window={window}, stride={stride}")
    if stride > window:
        raise ConfigError(f"stride {stride} > window {window} would leave pixels uncovered")


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets of the windows along one axis of ``length`` pixels (MONAI's placement).

    ``[0, stride, 2*stride, ..., length - window]``: strided starts while the window fits, plus a
    last one flush with the end if the strided ones miss it. If ``length <= window``: one window
    at ``-((window - length) // 2)`` (the axis is zero-padded symmetrically).
    """
    check_window(window, stride)
    if length <= window:
        return [-((window - length) // 2)]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def coverage(shape: tuple[int, int], window: int, stride: int) -> np.ndarray:
    """``int (H, W)``: how many windows cover each pixel (the divisor of the uniform average)."""
    counts = []
    for length in shape:
        c = np.zeros(length, dtype=np.int64)
        for s in window_starts(length, window, stride):
            c[max(s, 0) : s + window] += 1
        counts.append(c)
    return np.outer(counts[0], counts[1])


def monai_overlap(window: int, stride: int) -> float:
    """The ``overlap`` argument that makes MONAI step by exactly ``stride``.

    MONAI steps by ``int(window * (1 - overlap))``; the plain ``1 - stride / window`` can land a
    hair below ``stride`` in floating point (e.g. window 48, stride 16 -> step 15), so aim half a
    pixel above it and truncate.
    """
    check_window(window, stride)
    if stride == window:
        return 0.0
    overlap = (window - stride - 0.5) / window
    assert int(window * (1 - overlap)) == stride
    return overlap
