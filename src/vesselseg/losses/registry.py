"""Segmentation losses chosen by name: ``dice``, ``bce``, ``bce_dice``, ``focal``.

Every loss here takes **logits** ``(B, 1, H, W)`` (pre-sigmoid) and a float 0/1 target of the same
shape, applies the sigmoid itself, and returns a scalar (mean over pixels / batch). They are
MONAI's and PyTorch's own losses, configured once here:

* ``dice``: ``monai.losses.DiceLoss(sigmoid=True, batch=True)`` — soft Dice on
  ``sigmoid(logits)``. ``batch=True`` (MONAI's default is ``False``) computes **one Dice over all
  pixels of the batch** instead of one per sample then averaged: a 48x48 training patch often
  holds no vessel at all, and the per-sample Dice of an empty patch is ~1 for any non-zero
  prediction (only the 1e-5 smoothing terms are left), so it swings between 0 and 1 and its
  gradient is noise. The batch Dice is what the pooled F1 metric measures.
* ``bce``: ``torch.nn.BCEWithLogitsLoss`` (optional ``pos_weight`` for the rare vessel class).
* ``bce_dice``: ``monai.losses.DiceCELoss(sigmoid=True, batch=True)`` =
  ``dice_weight * Dice + bce_weight * BCE`` (MONAI uses BCE-with-logits for one channel).
* ``masked_bce_dice``: BCE + ``monai.losses.MaskedDiceLoss`` on several channels (the artery/vein
  model's artery and vein maps) with a per-pixel weight in the target's **last channel** (0: left
  out, e.g. RITE's "uncertain" vessels): targets are ``(B, C + 1, H, W)`` for ``C`` logit maps.
* ``focal``: ``monai.losses.FocalLoss(use_softmax=False)`` — sigmoid focal loss
  ``mean(alpha_t (1 - p_t)^gamma BCE)``; ``alpha=None`` weighs both classes alike.

:func:`build_loss` wraps a base loss in :class:`~vesselseg.losses.deep_supervision.DeepSupervisionLoss`
so the trainer always calls ``loss(model_output_dict, label)``.
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss, FocalLoss, MaskedDiceLoss
from torch import nn

from vesselseg.errors import ConfigError

#: name -> builder returning an ``nn.Module`` ``(logits, target) -> scalar``.
LOSSES: dict[str, Callable[..., nn.Module]] = {}


def register_loss(name: str):
    """Decorator adding a loss builder to :data:`LOSSES` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} registered twice")
        LOSSES[name] = fn
        return fn

    return deco


def _non_negative(**values: float | None) -> None:
    for key, v in values.items():
        if v is not None and not v >= 0:
            raise ConfigError(f"loss option {key} must be >= 0, got {v!r}")


def _pos_weight(pos_weight: float | None) -> torch.Tensor | None:
    _non_negative(pos_weight=pos_weight)
    return None if pos_weight is None else torch.tensor([float(pos_weight)])


@register_loss("dice")
def dice_loss(batch: bool = True, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5) -> nn.Module:
    """Soft Dice loss ``1 - (2 Σ p y + smooth_nr) / (Σ p + Σ y + smooth_dr)``, ``p = sigmoid(logits)``,
    sums over the whole batch when ``batch`` (see the module doc). Takes logits."""
    _non_negative(smooth_nr=smooth_nr, smooth_dr=smooth_dr)
    return DiceLoss(sigmoid=True, batch=batch, smooth_nr=smooth_nr, smooth_dr=smooth_dr)


@register_loss("bce")
def bce_loss(pos_weight: float | None = None) -> nn.Module:
    """Binary cross-entropy with logits (mean over pixels). Takes logits."""
    return nn.BCEWithLogitsLoss(pos_weight=_pos_weight(pos_weight))


@register_loss("bce_dice")
def bce_dice_loss(
    dice_weight: float = 1.0,
    bce_weight: float = 1.0,
    batch: bool = True,
    pos_weight: float | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
) -> nn.Module:
    """``dice_weight * Dice + bce_weight * BCE`` (both on the same logits). Takes logits."""
    _non_negative(dice_weight=dice_weight, bce_weight=bce_weight, smooth_nr=smooth_nr, smooth_dr=smooth_dr)
    return DiceCELoss(
        sigmoid=True,
        batch=batch,
        lambda_dice=dice_weight,
        lambda_ce=bce_weight,
        weight=_pos_weight(pos_weight),
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
    )


class MaskedBCEDice(nn.Module):
    """``bce_weight * BCE + dice_weight * Dice`` over ``C`` logit maps, each pixel weighted by the
    target's last channel; ``forward(logits (B, C, H, W), target (B, C + 1, H, W))``. The Dice is
    MONAI's masked batch Dice, one per channel, averaged (a rare class counts as much as a common one)."""

    #: the target holds one channel more than the logits: the per-pixel weight
    extra_label_channels = 1

    def __init__(self, dice_weight: float = 1.0, bce_weight: float = 1.0, smooth_nr: float = 1e-5,
                 smooth_dr: float = 1e-5):
        super().__init__()
        self.dice_weight, self.bce_weight = float(dice_weight), float(bce_weight)
        self.dice = MaskedDiceLoss(sigmoid=True, batch=True, smooth_nr=smooth_nr, smooth_dr=smooth_dr)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.shape[1] != logits.shape[1] + 1:
            raise ValueError(f"masked loss: target needs {logits.shape[1] + 1} channels (classes + weight), "
                             f"got {target.shape[1]}")
        y, w = target[:, :-1], target[:, -1:]
        bce = F.binary_cross_entropy_with_logits(logits, y, weight=w.expand_as(y), reduction="sum")
        bce = bce / (w.sum() * y.shape[1]).clamp(min=1.0)
        return self.bce_weight * bce + self.dice_weight * self.dice(logits, y, mask=w)


@register_loss("masked_bce_dice")
def masked_bce_dice_loss(dice_weight: float = 1.0, bce_weight: float = 1.0) -> nn.Module:
    """BCE + Dice on several channels with a per-pixel weight as the target's last channel. Takes logits."""
    _non_negative(dice_weight=dice_weight, bce_weight=bce_weight)
    return MaskedBCEDice(dice_weight=dice_weight, bce_weight=bce_weight)


@register_loss("focal")
def focal_loss(gamma: float = 2.0, alpha: float | None = None) -> nn.Module:
    """Sigmoid focal loss (Lin et al. 2017); ``alpha`` weighs vessel pixels, ``1-alpha`` background.
    Takes logits."""
    _non_negative(gamma=gamma)
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"loss option alpha must be in [0, 1], got {alpha!r}")
    return FocalLoss(use_softmax=False, gamma=gamma, alpha=alpha)


def get_loss(name: str, **kw) -> nn.Module:
    """Build the loss registered as ``name`` with options ``kw``.

    Raises:
        ConfigError: unknown name (the message lists the valid ones) or unknown/invalid option.
    """
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of: {', '.join(sorted(LOSSES))}")
    fn = LOSSES[name]
    accepted = list(inspect.signature(fn).parameters)
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise ConfigError(
            f"loss {name!r} has no option(s) {', '.join(unknown)}; its options: {', '.join(accepted) or 'none'}"
        )
    return fn(**kw)


def build_loss(
    name: str = "bce_dice",
    deep_supervision: bool = True,
    ds_weights: Sequence[float] = (0.5, 0.3, 0.2),
    ds_loss: str = "dice",
    **kw,
) -> nn.Module:
    """The trainer's loss: ``loss(model_output, label) -> scalar`` (and ``.terms(...)`` for logs).

    Args:
        name: base loss on the final logits (a :data:`LOSSES` name).
        deep_supervision: add the aux terms when the model returns aux outputs; when False the
            aux outputs are ignored.
        ds_weights: λ_i for aux levels 1.. (finest first); see ``DeepSupervisionLoss``.
        ds_loss: loss name for the aux terms (the paper's Dice by default).
        **kw: options of the base loss only.
    """
    from vesselseg.losses.deep_supervision import DeepSupervisionLoss

    return DeepSupervisionLoss(
        get_loss(name, **kw),
        aux_loss=get_loss(ds_loss),
        weights=tuple(ds_weights) if deep_supervision else None,
    )
