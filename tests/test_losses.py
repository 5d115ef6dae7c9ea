"""Losses: Dice/BCE/focal values, the registry, and the deep-supervision wrapper."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vesselseg.errors import ConfigError
from vesselseg.losses import LOSSES, DeepSupervisionLoss, build_loss, get_loss, resize_logits

torch.manual_seed(0)


def _label(b=2, h=16, w=12, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 1, h, w, generator=g) < p).float()


def _soft_dice(logits, y):  # batch Dice, by hand
    p = torch.sigmoid(logits)
    return 1 - (2 * (p * y).sum() + 1e-5) / (p.sum() + y.sum() + 1e-5)


class FakeNet(nn.Module):
    """3x3 conv with aux outputs at 1/2 and 1/4 resolution (the model output contract)."""

    def __init__(self, n_aux=2):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.aux = nn.ModuleList(nn.Conv2d(1, 1, 1) for _ in range(n_aux))

    def forward(self, x):
        y = self.conv(x)
        aux = [head(F.avg_pool2d(y, 2 ** (i + 1))) for i, head in enumerate(self.aux)]
        return {"logits": y, "aux": aux}


def test_dice_perfect_and_inverted():
    y = _label()
    dice = get_loss("dice")
    assert dice(20 * (2 * y - 1), y).item() == pytest.approx(0.0, abs=1e-6)
    assert dice(-20 * (2 * y - 1), y).item() == pytest.approx(1.0, abs=1e-6)
    x = torch.randn_like(y)
    assert dice(x, y).item() == pytest.approx(_soft_dice(x, y).item(), rel=1e-5)


def test_dice_is_over_the_batch():
    # one patch with vessels predicted well, one empty patch with a faint false response:
    # the batch Dice stays small, a per-sample Dice would count the empty patch as ~1
    y = torch.zeros(2, 1, 8, 8)
    y[0, 0, 2:6, 2:6] = 1
    x = torch.full_like(y, -6.0)
    x[0, 0, 2:6, 2:6] = 6.0
    assert get_loss("dice")(x, y).item() < 0.05
    assert get_loss("dice", batch=False)(x, y).item() > 0.45


def test_bce_equals_torch():
    y, x = _label(), torch.randn(2, 1, 16, 12)
    assert torch.allclose(get_loss("bce")(x, y), F.binary_cross_entropy_with_logits(x, y))
    pw = torch.tensor([4.0])
    assert torch.allclose(get_loss("bce", pos_weight=4.0)(x, y), F.binary_cross_entropy_with_logits(x, y, pos_weight=pw))


def test_bce_dice_is_weighted_sum():
    y, x = _label(), torch.randn(2, 1, 16, 12)
    d, b = get_loss("dice")(x, y), get_loss("bce")(x, y)
    assert torch.allclose(get_loss("bce_dice")(x, y), d + b)
    assert torch.allclose(get_loss("bce_dice", dice_weight=0.3, bce_weight=2.0)(x, y), 0.3 * d + 2.0 * b)
    b4 = get_loss("bce", pos_weight=4.0)(x, y)
    assert torch.allclose(get_loss("bce_dice", pos_weight=4.0)(x, y), d + b4)


def test_focal_by_hand():
    y, x = _label(), torch.randn(2, 1, 16, 12)
    p = torch.sigmoid(x)
    pt = torch.where(y > 0, p, 1 - p)
    bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert torch.allclose(get_loss("focal")(x, y), ((1 - pt) ** 2 * bce).mean(), atol=1e-6)
    at = torch.where(y > 0, 0.25, 0.75)
    assert torch.allclose(get_loss("focal", gamma=1.0, alpha=0.25)(x, y), (at * (1 - pt) * bce).mean(), atol=1e-6)
    assert torch.allclose(get_loss("focal", gamma=0.0)(x, y), F.binary_cross_entropy_with_logits(x, y), atol=1e-6)


def test_registry_errors():
    assert set(LOSSES) == {"dice", "bce", "bce_dice", "focal", "masked_bce_dice"}
    with pytest.raises(ConfigError, match="bce, bce_dice, dice, focal, masked_bce_dice"):
        get_loss("tversky")
    with pytest.raises(ConfigError, match="gama"):
        get_loss("focal", gama=2)
    with pytest.raises(ConfigError, match=">= 0"):
        get_loss("bce_dice", dice_weight=-1)
    with pytest.raises(ConfigError, match="alpha"):
        get_loss("focal", alpha=2.0)
    with pytest.raises(ConfigError):
        DeepSupervisionLoss(get_loss("dice"), weights=(0.5, -0.1))


def test_ds_empty_aux_equals_base():
    y, x = _label(), torch.randn(2, 1, 16, 12)
    base = get_loss("bce_dice")
    ds = DeepSupervisionLoss(base)
    assert torch.equal(ds({"logits": x, "aux": []}, y), base(x, y))
    assert torch.equal(ds(x, y), base(x, y))  # bare tensor = no aux
    assert set(ds.terms({"logits": x, "aux": []}, y)) == {"base", "total"}


def test_ds_weights_by_hand():
    y = _label(h=16, w=16)
    x = torch.randn(2, 1, 16, 16)
    aux = [torch.randn(2, 1, 8, 8), torch.randn(2, 1, 4, 4), torch.randn(2, 1, 2, 2)]
    ds = DeepSupervisionLoss(get_loss("dice"))  # paper: Dice everywhere, λ = (0.5, 0.3, 0.2)
    up = [F.interpolate(m, size=(16, 16), mode="bilinear", align_corners=False) for m in aux]
    expect = (0.5 * _soft_dice(up[0], y) + 0.3 * _soft_dice(up[1], y) + 0.2 * _soft_dice(up[2], y)) / 3
    expect = expect + _soft_dice(x, y)
    terms = ds.terms({"logits": x, "aux": aux}, y)
    assert terms["total"].item() == pytest.approx(expect.item(), rel=1e-5)
    assert terms["aux2"].item() == pytest.approx(_soft_dice(up[1], y).item(), rel=1e-5)
    assert terms["total"].item() == pytest.approx((terms["base"] + terms["aux"]).item(), rel=1e-6)

    # a custom aux loss, custom weights and scale
    ds2 = DeepSupervisionLoss(get_loss("bce"), aux_loss=get_loss("bce"), weights=(1.0, 0.0, 2.0), scale=1.0)
    bce = F.binary_cross_entropy_with_logits
    expect2 = bce(x, y) + bce(up[0], y) + 2.0 * bce(up[2], y)
    assert ds2({"logits": x, "aux": aux}, y).item() == pytest.approx(expect2.item(), rel=1e-5)


def test_ds_size_mismatch_handled_and_errors():
    y = _label(h=15, w=13)  # odd sizes: aux maps do not divide evenly
    x = torch.randn(2, 1, 15, 13)
    aux = [torch.randn(2, 1, 8, 7), torch.randn(2, 1, 4, 4), torch.randn(2, 1, 2, 2)]
    loss = DeepSupervisionLoss(get_loss("dice"))({"logits": x, "aux": aux}, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert resize_logits(aux[0], (15, 13)).shape == (2, 1, 15, 13)
    with pytest.raises(ConfigError, match="2 deep-supervision outputs but 3 weights"):
        DeepSupervisionLoss(get_loss("dice"))({"logits": x, "aux": aux[:2]}, y)
    with pytest.raises(ValueError, match="label shape"):
        DeepSupervisionLoss(get_loss("dice"))({"logits": x, "aux": []}, y[:, :, :14])


def test_gradient_flows_to_aux_and_build_loss():
    net = FakeNet(n_aux=2)
    x, y = torch.randn(2, 1, 16, 16), _label(h=16, w=16)
    out = net(x)
    for m in out["aux"]:
        m.retain_grad()
    loss = build_loss("bce_dice", ds_weights=(0.6, 0.4))
    loss(out, y).backward()
    assert all(m.grad is not None and m.grad.abs().sum() > 0 for m in out["aux"])
    assert all(h.weight.grad is not None and h.weight.grad.abs().sum() > 0 for h in net.aux)

    # deep supervision off: the aux maps are ignored (any number of them)
    off = build_loss("dice", deep_supervision=False)
    out = net(x)
    assert torch.allclose(off(out, y), get_loss("dice")(out["logits"], y))
    with pytest.raises(ConfigError):
        build_loss("bce_dice")(out, y)  # 2 aux maps, 3 default weights
    with pytest.raises(ConfigError):
        build_loss("bce", gamma=2.0)  # option of another loss


def test_bf16_logits_are_cast():
    y, x = _label(), torch.randn(2, 1, 16, 12)
    ds = build_loss("bce_dice", deep_supervision=False)
    full = ds(x, y)
    half = ds(x.bfloat16(), y)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), rel=1e-2)
