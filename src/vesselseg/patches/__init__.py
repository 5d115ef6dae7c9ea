"""Training patches: random coordinates, extraction as one tensor op, dihedral augmentation."""

from vesselseg.patches.augment import DIHEDRAL, apply_dihedral
from vesselseg.patches.sampling import PatchDataset, extract_patches, sample_coords, stack_images

__all__ = ["DIHEDRAL", "apply_dihedral", "PatchDataset", "extract_patches", "sample_coords", "stack_images"]
