"""vesselseg: retinal vessel segmentation in colour fundus photographs.

The data flows one way, and the sub-packages follow it::

    io -> preprocess -> patches -> models -> losses -> engine      (training)
    io -> preprocess -> inference -> metrics / figures              (testing)
"""

from vesselseg.errors import VesselsegError

__version__ = "0.1.0"


def segment(image, weights="drive", **kwargs):
    """Vessel probability map ``(H, W)`` of one photograph; see :func:`vesselseg.api.segment`."""
    from vesselseg.api import segment as _segment

    return _segment(image, weights, **kwargs)


__all__ = ["VesselsegError", "__version__", "segment"]
