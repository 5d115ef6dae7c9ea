import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vesselseg.patches import PatchDataset, apply_dihedral, extract_patches, sample_coords, stack_images


def _asym(h=60, w=70):
    """An image with no symmetry: value = 1000 * row + col."""
    return (np.arange(h)[:, None] * 1000 + np.arange(w)[None, :]).astype(np.float32)


def test_extract_matches_slicing():
    stack, sizes = stack_images([_asym(), _asym() + 0.5])
    coords = torch.tensor([[0, 0, 0], [1, 12, 22], [0, 12, 22]])
    p = extract_patches(stack, coords, 8)
    assert p.shape == (3, 1, 8, 8)
    for (n, y, x), patch in zip(coords.tolist(), p):
        assert torch.equal(patch, stack[n, :, y : y + 8, x : x + 8])


def test_dihedral_is_the_eight_transforms():
    x = torch.from_numpy(_asym(5, 5))[None, None].repeat(8, 1, 1, 1)
    out = apply_dihedral(x, torch.arange(8))
    outs = {tuple(o.flatten().tolist()) for o in out}
    assert len(outs) == 8  # all distinct
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[2], torch.rot90(x[0], 2, dims=(-2, -1)))
    assert torch.equal(out[4], torch.flip(x[0], dims=(-1,)))


def test_label_alignment_under_every_augmentation():
    img = _asym()
    lab = (img % 7) == 0  # label is a function of the image value, pixel by pixel
    ds = PatchDataset([img], [lab], patch_size=16, patches_per_image=200, seed=3)
    x, y = ds.__getitems__(list(range(200)))
    assert x.shape == y.shape == (200, 1, 16, 16)
    assert set(ds.ks.tolist()) == set(range(8))
    assert torch.equal(y.bool(), (x % 7) == 0)


def test_same_seed_same_patches_and_epochs_differ():
    imgs = [np.random.default_rng(i).random((50, 60)).astype(np.float32) for i in range(3)]
    labs = [im > 0.5 for im in imgs]
    a = PatchDataset(imgs, labs, patch_size=12, patches_per_image=10, seed=7)
    b = PatchDataset(imgs, labs, patch_size=12, patches_per_image=10, seed=7)
    xa, _ = a.__getitems__(range(30))
    xb, _ = b.__getitems__(range(30))
    assert torch.equal(xa, xb)
    a.set_epoch(1)
    b.set_epoch(1)
    xa1 = a.__getitems__(range(30))[0]
    assert torch.equal(xa1, b.__getitems__(range(30))[0])  # an epoch's patches: a function of (seed, epoch)
    assert not torch.equal(xa1, xa)
    assert len(a) == 30
    per_image = torch.bincount(a.coords[:, 0], minlength=3)
    assert per_image.tolist() == [10, 10, 10]


def test_fov_centres_and_bounds():
    sizes = torch.tensor([[40, 50], [30, 30]])
    fov = torch.zeros(2, 1, 40, 50, dtype=torch.bool)
    fov[0, 0, 20, 25] = True
    fov[1, 0, 10:20, 10:20] = True
    c = sample_coords(sizes, 50, 8, torch.Generator().manual_seed(0), fov)
    first = c[c[:, 0] == 0]
    assert (first[:, 1] == 16).all() and (first[:, 2] == 21).all()  # centre (20, 25)
    second = c[c[:, 0] == 1]
    assert (second[:, 1] + 8 <= 30).all() and (second[:, 2] >= 6).all()


def test_different_sizes_padded_but_patches_inside():
    imgs = [np.ones((30, 40), np.float32), np.ones((50, 20), np.float32)]
    ds = PatchDataset(imgs, [i > 0 for i in imgs], patch_size=16, patches_per_image=100, augment=False)
    x, y = ds.__getitems__(range(200))
    assert (x == 1).all() and (y == 1).all()  # never reaches the zero padding


def test_dataloader_batches():
    imgs = [np.random.default_rng(0).random((64, 64)).astype(np.float32)]
    ds = PatchDataset(imgs, [imgs[0] > 0.5], patch_size=48, patches_per_image=70)
    batches = list(DataLoader(ds, batch_size=32, collate_fn=PatchDataset.collate))
    assert [b[0].shape[0] for b in batches] == [32, 32, 6]
    assert batches[0][0].shape == (32, 1, 48, 48)


def test_too_small_image_rejected():
    with pytest.raises(ValueError, match="at least 48x48"):
        PatchDataset([np.zeros((30, 30), np.float32)], [np.zeros((30, 30), bool)])


def test_gather_with_transforms_equals_slice_then_transform():
    stack = torch.rand(3, 2, 30, 40)
    coords = torch.tensor([[0, 1, 2], [2, 5, 7], [1, 0, 0]] * 3)
    ks = torch.arange(9) % 8
    ref = torch.stack([stack[n, :, y : y + 8, x : x + 8] for n, y, x in coords.tolist()])
    assert torch.equal(extract_patches(stack, coords, 8, ks), apply_dihedral(ref, ks))
