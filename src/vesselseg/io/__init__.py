"""Reading images and masks, and the dataset definitions (DRIVE, STARE, CHASE_DB1, folder)."""

from vesselseg.io.images import IMAGE_SUFFIXES, read_image, read_mask, write_png
from vesselseg.io.datasets import DATASETS, Sample, get_dataset, load_split

__all__ = [
    "IMAGE_SUFFIXES",
    "read_image",
    "read_mask",
    "write_png",
    "DATASETS",
    "Sample",
    "get_dataset",
    "load_split",
]
