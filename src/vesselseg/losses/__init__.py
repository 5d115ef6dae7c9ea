"""Losses: Dice, BCE, BCE+Dice, focal (all take logits), and the deep-supervision wrapper.

- :func:`get_loss` (``"dice" | "bce" | "bce_dice" | "focal"``), :data:`LOSSES`, :func:`register_loss`
- :class:`DeepSupervisionLoss` and :func:`build_loss`, what the trainer uses
"""

from vesselseg.losses.deep_supervision import DeepSupervisionLoss, resize_logits
from vesselseg.losses.registry import LOSSES, build_loss, get_loss, register_loss

__all__ = ["LOSSES", "register_loss", "get_loss", "build_loss", "DeepSupervisionLoss", "resize_logits"]
