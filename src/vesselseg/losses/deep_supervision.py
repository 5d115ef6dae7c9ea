"""Deep-supervision loss over a model's output dict (SPEC section 1).

    L = (1/n) Σ_i λ_i · L_aux(M_i, Y)  +  L_base(Y_final, Y)

with n = len(λ) aux levels, λ = (0.5, 0.3, 0.2) for levels 1..3 (level 1 the finest; with three
levels the factor is the paper's 1/3), ``L_aux`` the soft Dice by default, and ``L_base`` whatever
base loss was chosen (the paper's Dice, or BCE+Dice).

Size mismatch: the aux logits ``M_i`` ``(B, 1, H_i, W_i)`` are **up-sampled bilinearly**
(``align_corners=False``) to the label's ``(H, W)`` before the loss; the label stays exact.
Down-sampling the binary label instead would give soft targets (or, with nearest
neighbour, drop the one-pixel capillaries the network is meant to find). Logits, not
probabilities, are interpolated, so every loss keeps taking logits and applying the sigmoid itself;
sigmoid is monotone, so the up-sampled map differs from up-sampled probabilities only slightly
where logits change fast.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vesselseg.errors import ConfigError


def resize_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(B, 1, h, w)`` -> ``(B, 1, *size)`` by bilinear interpolation (identity if same size)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def _unpack(output) -> tuple[torch.Tensor, list[torch.Tensor]]:
    if isinstance(output, torch.Tensor):  # a model without deep supervision outputs
        return output, []
    if not isinstance(output, Mapping) or "logits" not in output:
        raise TypeError('expected the model output dict {"logits": ..., "aux": [...]} or a tensor')
    return output["logits"], list(output.get("aux") or [])


class DeepSupervisionLoss(nn.Module):
    """Base loss on the final logits plus weighted aux losses on the deep-supervision maps.

    Args:
        base_loss: ``(logits, target) -> scalar`` for the final output (e.g. ``get_loss("dice")``).
        aux_loss: ``(logits, target) -> scalar`` for each aux map; None -> soft Dice
            (``get_loss("dice")``, batch Dice).
        weights: λ_i per aux level, finest first. ``None`` switches deep supervision off: aux
            outputs are ignored and the loss is the base loss.
        scale: factor in front of the aux sum; None -> ``1 / len(weights)`` (1/3 as in SPEC).

    Call ``loss(output, label)`` with the model's output dict ``{"logits": (B,1,H,W),
    "aux": [(B,1,H_i,W_i), ...]}`` (a bare logits tensor is also accepted) and the label
    ``(B, 1, H, W)`` float 0/1; it returns the scalar total. An empty ``aux`` list gives the base
    loss alone. ``terms(output, label)`` returns every term (tensors, graph kept) for logging.
    Inputs are cast to float32 first, so the losses are exact under bf16 autocast.

    Raises:
        ConfigError: the model returns a number of aux maps different from ``len(weights)``.
        ValueError: the label's shape differs from the final logits'.
    """

    def __init__(
        self,
        base_loss: nn.Module,
        aux_loss: nn.Module | None = None,
        weights: Sequence[float] | None = (0.5, 0.3, 0.2),
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if aux_loss is None:
            from vesselseg.losses.registry import get_loss

            aux_loss = get_loss("dice")
        self.base_loss = base_loss
        self.aux_loss = aux_loss
        if weights is not None:
            weights = tuple(float(w) for w in weights)
            if not weights or any(not w >= 0 for w in weights):
                raise ConfigError(f"deep supervision weights must be non-negative numbers, got {weights}")
        self.weights = weights
        self.scale = (1.0 / len(weights) if weights else 0.0) if scale is None else float(scale)

    def terms(self, output, label: torch.Tensor) -> dict[str, torch.Tensor]:
        """All terms as 0-d tensors: ``"base"``, ``"aux1"``.. (unweighted aux losses, level 1 the
        finest), ``"aux"`` (``scale * Σ λ_i aux_i``) when aux maps are used, and ``"total"``."""
        logits, aux = _unpack(output)
        extra = getattr(self.base_loss, "extra_label_channels", 0)  # a weight channel (masked losses)
        expected = (logits.shape[0], logits.shape[1] + extra, *logits.shape[2:])
        if tuple(label.shape) != expected:
            raise ValueError(f"label shape {tuple(label.shape)} differs from logits shape {tuple(logits.shape)}"
                             + (f" plus {extra} weight channel" if extra else ""))
        label = label.float()
        out = {"base": self.base_loss(logits.float(), label)}
        total = out["base"]
        if self.weights is not None and aux:
            if len(aux) != len(self.weights):
                raise ConfigError(
                    f"the model returned {len(aux)} deep-supervision outputs but {len(self.weights)} "
                    f"weights were given ({self.weights}); set one weight per output (finest first)"
                )
            weighted = []
            for i, (m, w) in enumerate(zip(aux, self.weights), start=1):
                out[f"aux{i}"] = self.aux_loss(resize_logits(m.float(), label.shape[-2:]), label)
                weighted.append(w * out[f"aux{i}"])
            out["aux"] = self.scale * torch.stack(weighted).sum()
            total = total + out["aux"]
        out["total"] = total
        return out

    def forward(self, output, label: torch.Tensor) -> torch.Tensor:
        """Scalar total loss (see the class doc)."""
        return self.terms(output, label)["total"]

    def extra_repr(self) -> str:
        return f"weights={self.weights}, scale={self.scale:.4g}"
