"""Inference: window geometry, whole vs sliding, odd sizes, flip TTA, train-mode restore."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data.utils import dense_patch_slices
from torch import nn

from vesselseg.errors import ConfigError, InputError
from vesselseg.inference import coverage, monai_overlap, predict, to_tensor, window_starts

torch.manual_seed(0)


class PointNet(nn.Module):
    """1x1 conv: translation-equivariant, so any window sees what the whole image sees."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(3.0)
            self.conv.bias.fill_(-1.5)

    def forward(self, x):
        y = self.conv(x)
        return {"logits": y, "aux": [F.avg_pool2d(y, 2, ceil_mode=True), F.avg_pool2d(y, 4, ceil_mode=True)]}


class ConvNet(nn.Module):
    """3x3 conv, zero padding; ``symmetric`` makes the kernel invariant under both flips."""

    def __init__(self, symmetric: bool):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) if symmetric else torch.randn(3, 3)
        with torch.no_grad():
            self.conv.weight.copy_(k[None, None] / 4)
            self.conv.bias.fill_(-2.0)

    def forward(self, x):
        return {"logits": self.conv(x), "aux": []}


def _image(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w), dtype=np.float32)


@pytest.mark.parametrize("length", [1, 40, 63, 64, 65, 80, 101, 565, 584])
def test_window_starts_cover_and_match_monai(length):
    w, s = 64, 16
    starts = window_starts(length, w, s)
    if length <= w:
        assert starts == [-((w - length) // 2)]
    else:
        assert starts[0] == 0 and starts[-1] == length - w  # last window flush with the end
        assert all(b - a == s for a, b in zip(starts[:-2], starts[1:-1]))  # stride 16 ...
        assert 0 < starts[-1] - starts[-2] <= s  # ... then the flush one
        covered = np.zeros(length, bool)
        for a in starts:
            covered[a : a + w] = True
        assert covered.all()
        interval = (w if length == w else s,)
        assert starts == [sl[0].start for sl in dense_patch_slices((length,), (w,), interval)]


def test_window_helpers():
    assert window_starts(565, 64, 16)[-2:] == [496, 501]
    assert window_starts(128, 64, 64) == [0, 64]
    cov = coverage((101, 77), 64, 16)
    assert cov.shape == (101, 77) and cov.min() >= 1
    assert coverage((40, 50), 64, 16).tolist() == np.ones((40, 50), int).tolist()
    for w, s in [(64, 16), (48, 16), (96, 32), (64, 64), (10, 3)]:
        assert int(w * (1 - monai_overlap(w, s))) == s
    with pytest.raises(ConfigError):
        window_starts(100, 64, 80)
    with pytest.raises(ConfigError):
        window_starts(100, 0, 1)


@pytest.mark.parametrize("shape", [(101, 77), (40, 50), (64, 64), (70, 33)])
def test_sliding_equals_whole_for_pointwise_model(shape):
    net, img = PointNet(), _image(*shape)
    whole = predict(net, img, mode="whole")
    sliding = predict(net, img, mode="sliding", window=64, stride=16, batch_size=8)
    assert whole.shape == sliding.shape == shape
    assert whole.dtype == sliding.dtype == np.float32
    assert np.abs(sliding - whole).max() < 1e-5
    assert 0.0 <= whole.min() and whole.max() <= 1.0
    expect = torch.sigmoid(torch.from_numpy(img) * 3.0 - 1.5).numpy()
    assert np.allclose(whole, expect, atol=1e-6)


def test_sliding_matches_whole_away_from_window_borders():
    # a 3x3 zero-padded conv sees the zero padding on each window's one-pixel rim, so sliding and
    # whole differ there; with non-overlapping tiles (stride = window; the last tile is flush with
    # the edge) every pixel off a window rim is predicted exactly as in the whole image
    net, img = ConvNet(symmetric=False), _image(90, 70, seed=1)
    whole = predict(net, img)
    tiled = predict(net, img, mode="sliding", window=32, stride=32)
    assert tiled.shape == whole.shape
    off_rim = np.ones(img.shape, bool)
    for axis, n in enumerate(img.shape):
        for a in window_starts(n, 32, 32):
            idx = [slice(None), slice(None)]
            idx[axis] = [a, a + 31]
            off_rim[tuple(idx)] = False
    diff = np.abs(tiled - whole)
    assert diff[off_rim].max() < 1e-5
    assert diff.max() > 1e-3  # the rims do differ: the comparison is not vacuous


@pytest.mark.parametrize("mode", ["whole", "sliding"])
def test_tta_with_flip_symmetric_model_equals_plain(mode):
    net, img = ConvNet(symmetric=True), _image(45, 71, seed=2)
    plain = predict(net, img, mode=mode)
    assert np.abs(predict(net, img, mode=mode, tta=True) - plain).max() < 1e-5


def test_tta_averages_flips():
    net, img = ConvNet(symmetric=False), _image(30, 41, seed=3)
    x = to_tensor(img)
    with torch.no_grad():
        p = [torch.sigmoid(net(x)["logits"])]
        p.append(torch.flip(torch.sigmoid(net(torch.flip(x, (-1,)))["logits"]), (-1,)))
        p.append(torch.flip(torch.sigmoid(net(torch.flip(x, (-2,)))["logits"]), (-2,)))
    expect = (sum(p) / 3)[0, 0].numpy()
    got = predict(net, img, tta=True)
    assert np.abs(got - expect).max() < 1e-6
    assert np.abs(got - predict(net, img)).max() > 1e-3


def test_inputs_modes_and_errors():
    net, img = PointNet(), _image(20, 30)
    net.train()
    a = predict(net, img)
    assert net.training  # train/eval mode restored
    assert np.array_equal(a, predict(net, to_tensor(img)))
    assert np.array_equal(a, predict(net, torch.from_numpy(img)))
    assert to_tensor(img).shape == (1, 1, 20, 30) and to_tensor(img).dtype == torch.float32
    assert np.array_equal(a, predict(nn.Sequential(net.conv), img))  # bare-logits model
    with pytest.raises(ConfigError, match="whole, sliding"):
        predict(net, img, mode="tiles")
    with pytest.raises(InputError):
        predict(net, np.zeros((3, 20, 30), np.float32))
    with pytest.raises(InputError):
        predict(net, torch.zeros(2, 1, 20, 30))


def test_padded_training_patch_from_model_multiple_and_card():
    from vesselseg.inference.predictor import Predictor
    from vesselseg.models import create

    unet = create("unet", base_channels=4, depth=4)  # pads inputs to a multiple of 16
    card = lambda patch: {"protocol": {"patch_size": patch}}  # noqa: E731
    assert Predictor(model=unet, card=card(40)).padded_training_patch() == (40, 48)
    assert Predictor(model=unet, card=card(48)).padded_training_patch() is None
    assert Predictor(model=unet, card={}).padded_training_patch() is None  # unknown patch
    assert Predictor(model=create("ce_net"), card=card(48)).padded_training_patch() == (48, 64)
