"""ONNX export of a trained model, and an ONNX Runtime model with the PyTorch output contract.

The exported graph takes ``x`` ``(B, C, H, W)`` (batch, height and width dynamic; C = 1 grey, 4
for a colour model; the network pads to its stride internally) and returns ``logits``
``(B, K, H, W)`` (K = 1, or 2 for the artery/vein model); the deep-supervision
heads are left out. The model card travels inside the file (ONNX ``metadata_props`` key
``vesselseg_card``), so one ``.onnx`` file is enough to segment with
``vesselseg segment --weights model.onnx``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vesselseg.errors import InputError
from vesselseg.inference.predictor import apply_inference_context
from vesselseg.inference.weights import load_model, resolve_weights, shipped_weights
from vesselseg.io.files import atomic_write_bytes

CARD_KEY = "vesselseg_card"
DEFAULT_OPSET = 17


class _LogitsOnly(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["logits"]


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise InputError("ONNX export needs the export extra: pip install 'vesselseg[export]'") from None


def have_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


#: Bumped whenever the exported graph of the same weights changes (2: DBPF patch context; 3: the
#: patch context of SE / CBAM / coordinate attention / scSE; 4: of CaFF's prototypes), so older
#: cached or shipped exports stop matching their weights and are made afresh.
EXPORT_VERSION = 4


def weights_digest(src: Path) -> str:
    """SHA-256 of the export version, a ``.safetensors`` file and its card: what an export was made from."""
    return hashlib.sha256(f"vesselseg-onnx-{EXPORT_VERSION}\n".encode() + src.read_bytes()
                          + src.with_suffix(".json").read_bytes()).hexdigest()


def export_onnx(weights: str | Path, out: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Export ``weights`` (shipped name, ``.safetensors`` or run folder) to ``out`` (``.onnx``).

    Written to a temporary name and renamed, so an existing ``out`` is only replaced by a
    complete file.
    """
    _require_onnx()
    import onnx

    model, card = load_model(weights)
    apply_inference_context(model, card, "patch")  # the graph is what the torch backend runs
    card = {**card, "exported_from_sha256": weights_digest(resolve_weights(weights))}
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give the .onnx file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out.parent}: cannot create output folder ({exc.strerror})") from None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter (dynamo=False): seconds instead of the dynamo exporter's
        # 10-30 s, and the same graph for this feed-forward net (parity tested).
        channels = int(getattr(model, "in_channels", 1))
        torch.onnx.export(_LogitsOnly(model).eval(), (torch.zeros(1, channels, 64, 64),), buf, dynamo=False,
                          input_names=["x"], output_names=["logits"], opset_version=opset,
                          dynamic_axes={"x": {0: "B", 2: "H", 3: "W"}, "logits": {0: "B", 2: "H", 3: "W"}})
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = CARD_KEY, json.dumps(card)
    proto.producer_name = "vesselseg"
    # Unique temporary names (io.files): shards exporting the same weights at once must not
    # write into one shared ".part" file (the loser of that race left a broken file behind).
    atomic_write_bytes(out, proto.SerializeToString())  # OutputError (an InputError) names the file
    return out


def cache_dir() -> Path:
    """Where on-the-fly ONNX exports are kept: ``$VESSELSEG_CACHE`` or ``~/.cache/vesselseg``."""
    root = os.environ.get("VESSELSEG_CACHE") or Path.home() / ".cache" / "vesselseg"
    return Path(root) / "onnx"


def _fallback_cache_dir() -> Path:
    """A per-user folder in the system temporary directory, for when :func:`cache_dir` is unwritable.

    One fixed folder (not a new ``mkdtemp`` per run, which littered the disk), created 0700 and
    used only if it is a real folder owned by this user (not a symlink another user planted).
    """
    path = Path(tempfile.gettempdir()) / f"vesselseg-{os.getuid()}" / "onnx"
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path.parent)
        if not (os.path.isdir(path.parent) and not os.path.islink(path.parent) and st.st_uid == os.getuid()):
            raise OSError("not a private folder")
        path.mkdir(mode=0o700, exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.mkdtemp(prefix="vesselseg-onnx-"))


def onnx_for_weights(weights: str | Path, int8: bool = False) -> Path:
    """The ONNX file for ``weights``: itself if it is one, else a cached export keyed by content.

    A cached file is used only if it loads and records the digest of these weights: a file left
    broken by a crash or a full disk is exported afresh instead of failing every later run.
    ``int8``: the int8 version, which is never made on the fly (it needs calibration
    photographs): shipped beside the weights (``<name>.int8.onnx``), else an :class:`InputError`
    saying how to make one.
    """
    if str(weights).lower().endswith(".onnx"):
        path = Path(weights)
        if not path.is_file():
            raise InputError(f"{path}: no such ONNX file")
        return path

    src = resolve_weights(weights)
    digest = weights_digest(src)
    if int8:
        beside = src.with_suffix(".int8.onnx")
        if beside.is_file() and _exported_from(beside) == digest:
            return beside
        shipped = [n for n in shipped_weights() if resolve_weights(n).with_suffix(".int8.onnx").is_file()]
        raise InputError(f"{weights}: no int8 version of these weights (shipped: {', '.join(shipped) or 'none'}); "
                         "make one with `vesselseg export --weights WEIGHTS --int8 --calibrate PHOTOS` "
                         "and pass the file as --weights NAME.int8.onnx")
    beside = src.with_suffix(".onnx")  # shipped weights carry their export
    if beside.is_file() and _exported_from(beside) == digest:
        return beside
    name = f"{src.stem}-{digest[:16]}.onnx"
    path = cache_dir() / name
    if path.is_file() and _exported_from(path) == digest:
        return path
    try:
        return export_onnx(src, path)  # atomic: concurrent exporters each rename a complete file
    except InputError:  # unwritable cache (read-only home)
        path = _fallback_cache_dir() / name
    if path.is_file() and _exported_from(path) == digest:
        return path
    return export_onnx(src, path)


def _exported_from(path: Path) -> str | None:
    """The source digest recorded in an exported file (None if unreadable)."""
    if not have_onnxruntime():
        return None
    try:
        import onnxruntime as ort

        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
        return json.loads(meta.get(CARD_KEY, "{}")).get("exported_from_sha256")
    except Exception:  # a damaged or foreign file: just export afresh
        return None


class OnnxModel:
    """An ONNX Runtime session that behaves like the PyTorch models for :func:`~vesselseg.inference.predict`.

    ``model(x)`` with ``x`` ``(B, C, H, W)`` returns ``{"logits": (B, K, H, W)}``; ``card`` is the
    model card stored in the file.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        if not have_onnxruntime():
            raise InputError("the onnxruntime backend needs onnxruntime: pip install onnxruntime")
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise InputError(f"{self.path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if CARD_KEY not in meta:
            raise InputError(f"{self.path}: no vesselseg model card inside (export it with `vesselseg export`)")
        self.card = json.loads(meta[CARD_KEY])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> dict:
        arr = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        (logits,) = self.session.run(["logits"], {self.input_name: arr})
        return {"logits": torch.from_numpy(logits)}
