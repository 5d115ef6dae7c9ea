"""Random patch sampling for training.

Per epoch, ``patches_per_image`` patch positions are drawn per training image (optionally with the
patch centre inside the FOV) plus one dihedral transform id per patch, all from a generator seeded
by ``(seed, epoch)``. Index ``i`` of the epoch therefore always names the same patch, whatever the
DataLoader workers or a DistributedSampler do with the indices, and a resumed run sees exactly the
patches it would have seen.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch.utils.data import Dataset

from vesselseg.patches.augment import apply_dihedral


def stack_images(arrays: list[np.ndarray], fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(H_i, W_i)`` or ``(C, H_i, W_i)`` arrays into ``(N, C, H, W)`` (C = 1 for 2-D arrays),
    padded at the bottom/right with ``fill``.

    Returns the stack and ``sizes`` ``(N, 2)`` (each image's own H, W).
    """
    arrays = [a[None] if a.ndim == 2 else a for a in arrays]
    channels = {a.shape[0] for a in arrays}
    if len(channels) != 1:
        raise ValueError(f"images with different channel counts: {sorted(channels)}")
    h = max(a.shape[1] for a in arrays)
    w = max(a.shape[2] for a in arrays)
    dtype = torch.bool if arrays[0].dtype == np.bool_ else torch.float32
    out = torch.full((len(arrays), channels.pop(), h, w), fill, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, :, : a.shape[1], : a.shape[2]] = torch.from_numpy(np.ascontiguousarray(a))
    sizes = torch.tensor([a.shape[1:] for a in arrays], dtype=torch.long)
    return out, sizes


def sample_coords(sizes: torch.Tensor, per_image, size: int, generator: torch.Generator,
                  fovs: torch.Tensor | None = None) -> torch.Tensor:
    """Top-left corners of ``per_image`` random ``size x size`` patches in each image.

    Args:
        sizes: ``(N, 2)`` image heights and widths; every patch lies fully inside its image.
        per_image: patches per image: one number for all, or a sequence of ``N`` counts.
        fovs: optional ``(N, 1, H, W)`` bool; if given, patch *centres* are drawn from FOV pixels.

    Returns:
        ``(sum of counts, 3)`` long: ``(image index, y0, x0)``, image-major order.
    """
    n = sizes.shape[0]
    counts = [int(per_image)] * n if isinstance(per_image, int) else [int(c) for c in per_image]
    if len(counts) != n:
        raise ValueError(f"{len(counts)} patch counts for {n} images")
    if (sizes < size).any():
        raise ValueError(f"every training image must be at least {size}x{size} pixels")
    rows = []
    half = size // 2
    for i in range(n):
        h, w = int(sizes[i, 0]), int(sizes[i, 1])
        per_image = counts[i]
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


@functools.lru_cache(maxsize=8)
def _dihedral_offsets(size: int, width: int) -> torch.Tensor:
    """``(8, size * size)``: for transform ``k``, the source offset ``dy * width + dx`` of each
    output pixel of a patch (so a transformed patch is one gather, no separate rotate/flip)."""
    ar = torch.arange(size)
    grid = (ar.view(size, 1) * width + ar.view(1, size))[None, None]
    return torch.cat([apply_dihedral(grid, torch.tensor([k])) for k in range(8)]).reshape(8, -1)


def extract_patches(stack: torch.Tensor, coords: torch.Tensor, size: int,
                    ks: torch.Tensor | None = None) -> torch.Tensor:
    """Gather patches ``(B, C, size, size)`` from ``stack`` ``(N, C, H, W)``, optionally transformed.

    ``coords`` is ``(B, 3)`` ``(image, y0, x0)``; ``ks`` ``(B,)`` dihedral transform ids (see
    :mod:`.augment`) applied on the fly. The whole batch is a single ``torch.take`` with one flat
    index per output pixel. Measured (batch 32, 1 thread): 23k patches/s, as fast as a per-patch
    slice/rotate/stack loop and 2.4x faster than advanced indexing followed by
    :func:`apply_dihedral`; either way under 1 % of a training step, so the data path never
    limits training.
    """
    n, c, h, w = stack.shape
    offsets = _dihedral_offsets(size, w)
    k = ks if ks is not None else torch.zeros(coords.shape[0], dtype=torch.long)
    base = (coords[:, 0] * (c * h * w) + coords[:, 1] * w + coords[:, 2]).view(-1, 1, 1)
    index = base + (torch.arange(c) * (h * w)).view(1, c, 1) + offsets[k].view(-1, 1, size * size)
    return torch.take(stack, index).view(-1, c, size, size)


class PatchDataset(Dataset):
    """Map-style dataset of random training patches; call :meth:`set_epoch` before each epoch.

    ``dataset[i]`` is one ``(image (C, S, S), label (K, S, S))`` pair; ``dataset.__getitems__``
    (used by ``DataLoader`` automatically) extracts and augments a whole batch in one gather and
    returns the stacked pair, so use ``collate_fn=PatchDataset.collate``.

    Args:
        images: preprocessed training images, each ``(H, W)`` (grey) or ``(C, H, W)`` float32.
        labels: vessel masks, each ``(H, W)`` bool, or soft targets in ``[0, 1]`` (float), or
            ``(K, H, W)`` target stacks (the artery/vein model's artery, vein, weight).
        fovs: FOV masks (used only if ``centres_in_fov``).
        patch_size: side of the square patches (48 in the paper).
        patches_per_image: patches drawn per image per epoch (1000 in the paper), or one count
            per image.
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
        self.in_channels = images.shape[1]
        self.fovs = stack_images(list(fovs))[0] if (fovs is not None and centres_in_fov) else None
        self.patch_size = patch_size
        self.per_image = patches_per_image if isinstance(patches_per_image, int) else list(patches_per_image)
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
        xy = extract_patches(self.stack, c, self.patch_size, self.ks[idx] if self.ks is not None else None)
        return xy[:, : self.in_channels], xy[:, self.in_channels :]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([i])
        return x[0], y[0]

    @staticmethod
    def collate(batch):
        """``collate_fn`` for batches that :meth:`__getitems__` already stacked."""
        return batch
