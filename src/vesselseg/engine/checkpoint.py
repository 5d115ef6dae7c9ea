"""Training checkpoints: full resume state, written atomically, checked by SHA-256.

Layout inside a run folder::

    checkpoints/last.pt        newest complete checkpoint
    checkpoints/last.pt.sha256 its checksum
    checkpoints/prev.pt(.sha256) the one before (fallback if ``last`` is corrupt)

A write goes to a temporary file first, is fsync'ed, then renamed over the old file
(:func:`vesselseg.io.files.atomic_write`), so a SIGKILL at
any moment leaves at least one complete, verifiable checkpoint. These files are PyTorch pickles
that this program wrote itself; they load with ``weights_only=True`` (tensors, numbers, strings
only). Shipped and exchanged weights use safetensors (:mod:`vesselseg.inference.weights`).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch

from vesselseg.errors import InputError
from vesselseg.io.files import atomic_write_bytes


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(state: dict, ckpt_dir: str | Path) -> Path:
    """Write ``state`` as the new ``last.pt``, keeping the previous one as ``prev.pt``."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    last, prev = ckpt_dir / "last.pt", ckpt_dir / "prev.pt"
    for stale in ckpt_dir.glob(".*.part"):  # temporaries of a write a kill interrupted (one writer per run)
        stale.unlink(missing_ok=True)
    if last.exists() and (ckpt_dir / "last.pt.sha256").exists():
        os.replace(last, prev)
        os.replace(ckpt_dir / "last.pt.sha256", ckpt_dir / "prev.pt.sha256")
    # Checksum first: a kill between the two writes leaves a last.pt without a matching sum,
    # which load_latest treats as corrupt and skips.
    atomic_write_bytes(ckpt_dir / "last.pt.sha256", sha256_hex(data).encode(), durable=True)
    atomic_write_bytes(last, data, durable=True)
    return last


def _load_verified(path: Path) -> dict | None:
    sums = path.with_name(path.name + ".sha256")
    if not path.exists() or not sums.exists():
        return None
    data = path.read_bytes()
    if sha256_hex(data) != sums.read_text().strip():
        return None
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        return None


def load_latest(ckpt_dir: str | Path) -> tuple[dict, Path]:
    """The newest checkpoint whose checksum verifies (``last.pt``, else ``prev.pt``)."""
    ckpt_dir = Path(ckpt_dir)
    for name in ("last.pt", "prev.pt"):
        state = _load_verified(ckpt_dir / name)
        if state is not None:
            return state, ckpt_dir / name
    raise InputError(f"{ckpt_dir}: no usable checkpoint (missing or failed its checksum)")
