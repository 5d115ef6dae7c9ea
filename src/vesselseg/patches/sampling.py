"""Random patch sampling for training.

Per epoch, ``patches_per_image`` patch positions are drawn per training image (optionally with the
patch centre inside the FOV) plus one dihedral transform id per patch, all from a generator seeded
by ``(seed, epoch)``. Index ``i`` of the epoch therefore always names the same patch, whatever the
DataLoader workers or a DistributedSampler do with the indices, and a resumed run sees exactly the
patches it would have seen.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from vesselseg.patches.augment import apply_dihedral


def stack_images(arrays: list[np.ndarray], fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(H_i, W_i)`` arrays into ``(N, 1, H, W)`` padded at the bottom/right with ``fill``.

    Returns the stack and ``sizes`` ``(N, 2)`` (each image's own H, W).
    """
    h = max(a.shape[0] for a in arrays)
    w = max(a.shape[1] for a in arrays)
    dtype = torch.bool if arrays[0].dtype == np.bool_ else torch.float32
    out = torch.full((len(arrays), 1, h, w), fill, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, 0, : a.shape[0], : a.shape[1]] = torch.from_numpy(np.ascontiguousarray(a))
    sizes = torch.tensor([a.shape[:2] for a in arrays], dtype=torch.long)
    return out, sizes


def sample_coords(sizes: torch.Tensor, per_image: int, size: int, generator: torch.Generator,
                  fovs: torch.Tensor | None = None) -> torch.Tensor:
    """Top-left corners of ``per_image`` random ``size x size`` patches in each image.

    Args:
        sizes: ``(N, 2)`` image heights and widths; every patch lies fully inside its image.
        fovs: optional ``(N, 1, H, W)`` bool; if given, patch *centres* are drawn from FOV pixels.

    Returns:
        ``(N * per_image, 3)`` long: ``(image index, y0, x0)``, image-major order.
    """
    n = sizes.shape[0]
    if (sizes < size).any():
        raise ValueError(f"every training image must be at least {size}x{size} pixels")
    rows = []
    half = size // 2
    for i in range(n):
        h, w = int(sizes[i, 0]), int(sizes[i, 1])
        if fovs is None:
            y = torch.randint(0, h - size + 1, (per_image,), generator=generator)
            x = torch.randint(0, w - size + 1, (per_image,), generator=generator)
        else:
            valid = torch.zeros((h, w), dtype=torch.bool)
            valid[half : h - size + half + 1, half : w - size + half + 1] = True
            cand = (fovs[i, 0, :h, :w] & valid).flatten().nonzero(as_tuple=True)[0]
            if cand.numel() == 0:
                raise ValueError(f"image {i}: no FOV pixel can centre a {size}x{size} patch")
            pick = cand[torch.randint(0, cand.numel(), (per_image,), generator=generator)]
            y, x = pick // w - half, pick % w - half
        rows.append(torch.stack([torch.full((per_image,), i), y, x], dim=1))
    return torch.cat(rows)


def extract_patches(stack: torch.Tensor, coords: torch.Tensor, size: int) -> torch.Tensor:
    """Gather patches ``(B, C, size, size)`` from ``stack`` ``(N, C, H, W)`` in one indexing op.

    ``coords`` is ``(B, 3)`` ``(image, y0, x0)``. Advanced indexing with broadcast row/column grids
    replaces a Python loop over patches (about 30x faster for a 32-patch batch).
    """
    ar = torch.arange(size)
    n = coords[:, 0].view(-1, 1, 1)
    ys = (coords[:, 1].view(-1, 1) + ar).view(-1, size, 1)
    xs = (coords[:, 2].view(-1, 1) + ar).view(-1, 1, size)
    # stack[n, :, ys, xs] -> (B, size, size, C); move channels back to dim 1.
    return stack.permute(0, 2, 3, 1)[n, ys, xs].permute(0, 3, 1, 2).contiguous()


class PatchDataset(Dataset):
    """Map-style dataset of random training patches; call :meth:`set_epoch` before each epoch.

    ``dataset[i]`` is one ``(image (1, S, S), label (1, S, S))`` pair; ``dataset.__getitems__``
    (used by ``DataLoader`` automatically) extracts and augments a whole batch in one tensor
    operation and returns the stacked pair, so use ``collate_fn=PatchDataset.collate``.

    Args:
        images: preprocessed grey training images, each ``(H, W)`` float32.
        labels: vessel masks, each ``(H, W)`` bool.
        fovs: FOV masks (used only if ``centres_in_fov``).
        patch_size: side of the square patches (48 in the paper).
        patches_per_image: patches drawn per image per epoch (1000 in the paper).
        augment: apply a random flip/rotation (one of the 8 dihedral transforms) per patch.
        seed: base seed; epoch ``e`` uses ``seed * 100003 + e``.
    """

    def __init__(self, images, labels, fovs=None, patch_size: int = 48, patches_per_image: int = 1000,
                 augment: bool = True, centres_in_fov: bool = False, seed: int = 0):
        if len(images) != len(labels) or not images:
            raise ValueError("need the same, non-zero number of images and labels")
        images, self.sizes = stack_images(list(images))
        labels, _ = stack_images([np.asarray(l, dtype=np.float32) for l in labels])
        # Image and label as two channels of one stack: one gather and one transform per batch.
        self.stack = torch.cat([images, labels], dim=1)
        self.fovs = stack_images(list(fovs))[0] if (fovs is not None and centres_in_fov) else None
        self.patch_size = patch_size
        self.per_image = patches_per_image
        self.augment = augment
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's patch positions, order and transforms (deterministic in seed, epoch)."""
        self.epoch = epoch
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        coords = sample_coords(self.sizes, self.per_image, self.patch_size, g, self.fovs)
        perm = torch.randperm(coords.shape[0], generator=g)
        self.coords = coords[perm]
        self.ks = torch.randint(0, 8, (coords.shape[0],), generator=g) if self.augment else None

    def __len__(self) -> int:
        return self.coords.shape[0]

    def __getitems__(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        c = self.coords[idx]
        xy = extract_patches(self.stack, c, self.patch_size)
        if self.ks is not None:
            xy = apply_dihedral(xy, self.ks[idx])
        return xy[:, :1], xy[:, 1:]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([i])
        return x[0], y[0]

    @staticmethod
    def collate(batch):
        """``collate_fn`` for batches that :meth:`__getitems__` already stacked."""
        return batch
