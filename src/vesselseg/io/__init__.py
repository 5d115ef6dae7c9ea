"""Reading and writing: images, masks and probability maps (:mod:`.images`), atomic file writes
(:mod:`.files`), the field of view (:mod:`.fov`), artery/vein labels (:mod:`.av`), the dataset
definitions (:mod:`.datasets`) and notes to the user (:mod:`.notes`).

Names are imported on first use (PEP 562), so a module that needs only :mod:`.files` (the web
server's parent process, weight cards) does not load scipy, Pillow or the dataset table.
"""

from __future__ import annotations

from vesselseg._lazy import lazy_exports

_EXPORTS = {
    "IMAGE_SUFFIXES": "images", "read_image": "images", "read_mask": "images", "write_png": "images",
    "DATASETS": "datasets", "Sample": "datasets", "get_dataset": "datasets", "load_split": "datasets",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
