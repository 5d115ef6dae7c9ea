"""Networks; importing this package registers every builder in the model registry."""

from vesselseg.models.nets import attention_unet, caffnet, ce_net, sa_unet, umixformer, unet  # noqa: F401
from vesselseg.models.nets.base import SegmentationModel
from vesselseg.models.nets.unet import UNet

__all__ = ["SegmentationModel", "UNet"]
