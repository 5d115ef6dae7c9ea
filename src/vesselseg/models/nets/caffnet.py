"""CaFFNet (SPEC section 1): the generic U-Net with 3 down-sampling steps, DBPF instead of
max-pooling and CaFF on every skip connection.

``create("caffnet", caff=..., dbpf=...)`` gives the paper's four ablation models:

======  =====  ===========================================================
caff    dbpf   model
======  =====  ===========================================================
False   False  plain skip-connection baseline (max-pool, concat, no aux)
True    False  +CaFF (aux: M_1..M_3)
False   True   +DBPF
True    True   CaFFNet
======  =====  ===========================================================
"""

from __future__ import annotations

from collections.abc import Sequence

from vesselseg.errors import ConfigError
from vesselseg.models.nets.unet import UNet
from vesselseg.models.registry import register_model

#: CaFF mode used when none is given: the faithful one. The repaired ``dual_prototype`` showed no
#: measurable gain in the full-protocol head-to-head on DRIVE and CHASE_DB1 (docs/ablations.md).
DEFAULT_CAFF_MODE = "paper"

#: Widths 16/32/64/128 (SA-UNet's): 0.62 M parameters. ``base_channels=20`` reaches the paper's
#: ~1.0 M but trains at half the speed on the project's AVX2 CPUs (41 vs 85 patches/s, batch 32,
#: 2 threads: oneDNN runs 16-multiples of channels far better), so 16 is the default.
DEFAULT_BASE_CHANNELS = 16


def _flag(value: object, option: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{option}={value!r} is not valid; expected true or false")
    return value


@register_model("caffnet")
def caffnet(
    in_channels: int = 1,
    base_channels: int = DEFAULT_BASE_CHANNELS,
    depth: int = 3,
    caff: bool = True,
    dbpf: bool = True,
    caff_mode: str = DEFAULT_CAFF_MODE,
    caff_pool: str | None = None,
    drop_skips: Sequence[int] = (),
    attention: str | None = None,
    up: str = "transpose",
    drop_prob: float = 0.0,
    drop_block: int = 7,
) -> UNet:
    """CaFFNet: depth 3, widths 16/32/64/128, DBPF down-sampling, CaFF skips (0.62 M
    parameters; ``base_channels=20`` gives the paper's ~1.0 M at half the CPU training speed).

    ``forward``: ``(B, in_channels, H, W) -> {"logits": (B, 1, H, W), "aux": [M_1, M_2, M_3]}``
    with ``M_i`` the CaFF coarse-mask logits of level ``i`` at ``ceil(H / 2**(i-1)) x
    ceil(W / 2**(i-1))`` (empty with ``caff=False``). ``caff_mode``: ``"paper"`` (faithful),
    ``"dual_prototype"`` or ``"sigmoid"`` (repairs); see :mod:`vesselseg.models.layers.caff`.
    """
    return UNet(
        in_channels=in_channels,
        depth=depth,
        base_channels=base_channels,
        down="dbpf" if _flag(dbpf, "dbpf") else "max",
        up=up,
        skip="caff" if _flag(caff, "caff") else "concat",
        drop_skips=drop_skips,
        caff_mode=caff_mode,
        caff_pool=caff_pool,
        attention=attention,
        drop_prob=drop_prob,
        drop_block=drop_block,
    )
