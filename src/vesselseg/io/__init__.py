"""Reading and writing: images, masks and probability maps (:mod:`.images`), atomic file writes
(:mod:`.files`), the field of view (:mod:`.fov`), artery/vein labels (:mod:`.av`), the dataset
definitions (:mod:`.datasets`) and notes to the user (:mod:`.notes`).

Names are imported on first use (PEP 562), so a module that needs only :mod:`.files` (the web
server's parent process, weight cards) does not load scipy, Pillow or the dataset table.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "IMAGE_SUFFIXES": "images", "read_image": "images", "read_mask": "images", "write_png": "images",
    "DATASETS": "datasets", "Sample": "datasets", "get_dataset": "datasets", "load_split": "datasets",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
