"""CaFF: cross-attention feature fusion on a skip connection (SPEC section 1).

The published formula does not work as written (SPEC and the notes list why), so the module has
``mode``s:

``"paper"`` -- the closest faithful reading, for an encoder map ``E`` and the up-sampled decoder
map ``D``, both ``(B, C, H, W)``, ``N = H W``:

* ``M = sigmoid(conv1x1(relu(bn(conv3x3(D)))))`` -- ``(B, 1, H, W)``. The paper's classifier is
  "3x3 conv, 1x1 conv, sigmoid"; a BN + ReLU sits between the two convolutions because two
  linear convolutions in a row are one convolution.
* ``P = sum_hw(M * D) / N`` -- ``(B, C)``: masked average pooling as *global average pooling*,
  the paper's wording, i.e. divided by ``H W``, not by ``sum(M)``.
* ``Q = W_Q E`` -- ``(B, C, N)``; ``K = W_K P`` -- ``(B, C)``; ``V = W_V P`` -- ``(B, C)``;
  ``W_Q, W_K, W_V`` are ``C x C`` without bias.
* ``A = softmax_n(Q^T K / sqrt(C))`` -- ``(B, N)``: one score per pixel, softmax over all ``N``
  pixels (the only axis with more than one entry), so every weight is about ``1 / N``.
* ``T = E + reshape(A V)``: ``A V`` is ``(N, 1) x (1, C) = (N, C)`` per sample, transposed to
  ``(C, N)`` and viewed as ``(C, H, W)``, i.e. ``term[c, n] = A[n] V[c]``. Because ``A ~ 1/N``
  the attention term nearly vanishes (relative size ~1e-5..1e-3 at init on 64x64, and exactly
  lost when ``E + term`` is rounded to bfloat16); it is kept anyway, faithfully.

``"dual_prototype"`` -- the principled repair: a vessel prototype ``P_v`` pooled with ``M`` and a
background prototype ``P_b`` pooled with ``1 - M`` (both normalised by the mask sum, i.e.
``sum(M D) / sum(M)``); keys ``K_j = W_K P_j`` and values ``V_j = W_V P_j``, ``j in {v, b}``; each
pixel's softmax runs over its two keys, ``a_j(n) = softmax_j(Q(n) . K_j / sqrt(C))``, and the
term is ``sum_j a_j(n) V_j``, a per-pixel mix of the two projected prototypes.

``"sigmoid"`` -- one vessel prototype (mask-normalised) and a per-pixel sigmoid weight instead
of the softmax: term ``= sigmoid(Q(n) . K / sqrt(C)) V``.

``pool`` overrides the prototype normalisation: ``"gap"`` (divide by ``H W``) or ``"masked"``
(divide by the mask sum). Default: ``"gap"`` for ``"paper"``, ``"masked"`` otherwise.

Pooling context (:mod:`.pooling_context`): the prototypes of ``"dual_prototype"`` and
``"sigmoid"`` are global poolings like SE's; at inference with a context window each pixel gets
its own prototypes, pooled over the window a training patch gave this level (``P(n)``,
``(B, C, H, W)``), so a whole photograph's black surround does not enter them. ``"paper"`` keeps
its global prototype: its softmax runs over all ``N`` pixels of the map, so a window would change
the formula itself, not only its context (and its term is ~1/N of ``E`` either way).

``forward(E, D) -> (T, M_logits)``: ``T`` is ``(B, C, H, W)``; ``M_logits`` ``(B, 1, H, W)`` are
the coarse-mask logits before the sigmoid, the deep-supervision output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from vesselseg.models._checks import choose
from vesselseg.models.layers.pooling_context import ContextPooling

_EPS = 1e-6


def _gap(weight: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W), (B, C, H, W) -> (B, C)``: ``sum(weight * d) / (H W)``."""
    return (weight * d).mean(dim=(2, 3))


def _masked(weight: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W), (B, C, H, W) -> (B, C)``: ``sum(weight * d) / sum(weight)``."""
    return (weight * d).sum(dim=(2, 3)) / (weight.sum(dim=(2, 3)) + _EPS)


POOLS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "gap": _gap,
    "masked": _masked,
}


def _paper(caff: CaFF, q: torch.Tensor, d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    p = caff.pool(m, d)  # (B, C)
    k, v = caff.w_k(p), caff.w_v(p)  # (B, C) each
    scores = torch.einsum("bcn,bc->bn", q, k) * caff.scale  # (B, N)
    weights = torch.softmax(scores, dim=1)  # over the N pixels
    return v.unsqueeze(2) * weights.unsqueeze(1)  # (B, C, N)


def _project(linear: nn.Linear, p: torch.Tensor) -> torch.Tensor:
    """``W p`` over the channel axis: ``(..., C)`` global prototypes, or ``(B, C, H, W)`` per-pixel
    ones (a context window) -> ``(B, C, N)``."""
    if p.dim() == 4:
        return torch.einsum("oc,bcn->bon", linear.weight, p.flatten(2))
    return linear(p)


def _dual_prototype(caff: CaFF, q: torch.Tensor, d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    vessel, background = caff.prototype(m, d), caff.prototype(1.0 - m, d)
    if vessel.dim() == 4:  # per-pixel prototypes: (B, 2, C, N)
        k = torch.stack([_project(caff.w_k, vessel), _project(caff.w_k, background)], dim=1)
        v = torch.stack([_project(caff.w_v, vessel), _project(caff.w_v, background)], dim=1)
        weights = torch.softmax(torch.einsum("bcn,bjcn->bjn", q, k) * caff.scale, dim=1)
        return torch.einsum("bjn,bjcn->bcn", weights, v)
    protos = torch.stack([vessel, background], dim=1)  # (B, 2, C)
    k, v = caff.w_k(protos), caff.w_v(protos)  # (B, 2, C) each
    scores = torch.einsum("bcn,bjc->bjn", q, k) * caff.scale  # (B, 2, N)
    weights = torch.softmax(scores, dim=1)  # over the two keys, per pixel
    return torch.einsum("bjn,bjc->bcn", weights, v)  # (B, C, N)


def _sigmoid(caff: CaFF, q: torch.Tensor, d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    p = caff.prototype(m, d)
    k, v = _project(caff.w_k, p), _project(caff.w_v, p)
    if p.dim() == 4:  # per-pixel prototypes: keys and values (B, C, N)
        return v * torch.sigmoid((q * k).sum(dim=1, keepdim=True) * caff.scale)
    weights = torch.sigmoid(torch.einsum("bcn,bc->bn", q, k) * caff.scale)  # (B, N)
    return v.unsqueeze(2) * weights.unsqueeze(1)


#: mode -> (attention function, default prototype pooling)
MODES: dict[str, tuple[Callable[..., torch.Tensor], str]] = {
    "paper": (_paper, "gap"),
    "dual_prototype": (_dual_prototype, "masked"),
    "sigmoid": (_sigmoid, "masked"),
}


class CaFF(ContextPooling):
    """Cross-attention feature fusion; see the module docstring for the exact maths per mode.

    ``forward(E, D)``: ``(B, C, H, W), (B, C, H, W) -> ((B, C, H, W) T, (B, 1, H, W) M logits)``.
    Set ``record_ratio = True`` to store ``||attention term|| / ||E||`` (whole batch, Frobenius)
    in ``last_ratio`` on each forward; see :func:`attention_term_ratios`.
    """

    def __init__(self, channels: int, mode: str = "paper", pool: str | None = None) -> None:
        super().__init__()
        self.mode = mode
        self.attend, default_pool = choose(MODES, mode, "caff_mode")
        self.pool_name = default_pool if pool is None else pool
        self.pool = choose(POOLS, self.pool_name, "caff_pool")
        self.classifier = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, 1, 1),
        )
        self.w_q = nn.Conv2d(channels, channels, 1, bias=False)
        self.w_k = nn.Linear(channels, channels, bias=False)
        self.w_v = nn.Linear(channels, channels, bias=False)
        self.scale = channels**-0.5
        self.record_ratio = False
        self.last_ratio: torch.Tensor | None = None

    @property
    def uses_context(self) -> bool:
        """Only the prototype modes pool over a context (``paper`` keeps its global softmax)."""
        return self.mode != "paper"

    def prototype(self, weight: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Weighted pooling of ``d`` by ``weight`` ``(B, 1, H, W)``: ``(B, C)`` over the map, or
        ``(B, C, H, W)`` over each pixel's context window (see the module docstring)."""
        if self.context_window is None or not self.uses_context:
            return self.pool(weight, d)
        total = self.pool_mean(weight * d)  # window mean of weight * d
        if self.pool_name == "gap":
            return total
        return total / (self.pool_mean(weight) + _EPS)  # window sum(w d) / sum(w)

    def forward(self, e: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask_logits = self.classifier(d)  # (B, 1, H, W)
        q = self.w_q(e).flatten(2)  # (B, C, N)
        term = self.attend(self, q, d, torch.sigmoid(mask_logits)).reshape(e.shape)
        if self.record_ratio:
            self.last_ratio = (term.norm() / e.norm().clamp_min(_EPS)).detach()
        return e + term, mask_logits

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, pool={self.pool_name!r}"


@torch.no_grad()
def attention_term_ratios(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Run ``model(x)`` once (in its current train/eval mode, without gradients) and return
    ``||attention term|| / ||E_i||`` for every CaFF module, in registration order (finest level
    first in the project's networks). Empty when the model has no CaFF."""
    caffs = [m for m in model.modules() if isinstance(m, CaFF)]
    for c in caffs:
        c.record_ratio = True
    try:
        model(x)
        return [float(c.last_ratio) for c in caffs]
    finally:
        for c in caffs:
            c.record_ratio = False
            c.last_ratio = None
