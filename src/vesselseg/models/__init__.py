"""Networks for vessel segmentation, built by name.

>>> from vesselseg.models import create
>>> model = create("caffnet", caff=True, dbpf=True)
>>> out = model(x)          # x: (B, 1, H, W) float, any H, W
>>> out["logits"]           # (B, 1, H, W) pre-sigmoid
>>> out["aux"]              # deep-supervision logits, finest first ([] without)

``layers/`` holds reusable blocks, ``nets/`` one file per network, ``registry`` the names.
"""

from vesselseg.models import nets  # noqa: F401  (registers the builders)
from vesselseg.models.layers.caff import attention_term_ratios
from vesselseg.models.registry import (
    MODELS,
    count_parameters,
    create,
    list_models,
    model_options,
    register_model,
)

__all__ = [
    "MODELS",
    "attention_term_ratios",
    "count_parameters",
    "create",
    "list_models",
    "model_options",
    "register_model",
]
