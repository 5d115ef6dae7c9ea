"""vesselseg: retinal vessel segmentation in colour fundus photographs.

The data flows one way, and the sub-packages follow it (each imports only those below it; the
contract is in pyproject.toml, ``[tool.importlinter]``)::

    cli, serve -> api -> engine (training, evaluation)
                      -> segmentation (photograph -> mask files) | measure (mask -> measurements)
                      -> inference (weights -> probabilities; torch or ONNX Runtime)
                      -> models | losses | metrics | patches -> preprocess -> io
                      -> settings -> validation -> errors, vocabulary

Imports sit at module level, with two deliberate exceptions: (1) torch -- and the vesselseg
modules that import it (api, models, engine, segmentation) -- is imported inside the functions of
the command line (``cli``), the web server's parent process (``serve``), weight listing
(``inference.weights``) and config checks (``engine.config``), so ``--help``, usage errors and the
server answer without the ~2 s torch import (``api`` likewise imports the training engine, the
networks and segmentation inside the functions that use them, so measuring masks never loads
torch); (2) optional extras and slow libraries that a single function uses (onnx, onnxruntime,
skan, uvicorn, matplotlib, scikit-image's skeletonize, tifffile, MONAI's sliding window in
inference) are imported where used, so a missing extra fails only the feature that needs it,
with an install hint.
"""

from vesselseg._version import __version__
from vesselseg.errors import VesselsegError


def segment(image, weights="drive", **kwargs):
    """Vessel probability map ``(H, W)`` of one photograph; see :func:`vesselseg.api.segment`."""
    from vesselseg.api import segment as _segment

    return _segment(image, weights, **kwargs)


__all__ = ["VesselsegError", "__version__", "segment"]
