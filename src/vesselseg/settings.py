"""Process-wide settings: where the datasets live, and how many threads to use."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "VESSELSEG_DATA"


def repo_root() -> Path:
    """The source checkout holding this package (``src/vesselseg`` -> two levels up)."""
    return Path(__file__).resolve().parents[2]


def data_root(override: str | os.PathLike | None = None) -> Path:
    """Root folder holding ``DRIVE/``, ``STARE/`` and ``CHASEDB1/``.

    Order: explicit ``override`` (a ``--data`` option) > ``$VESSELSEG_DATA`` >
    ``../shared/datasets`` beside the repository.
    """
    if override:
        return Path(override).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return repo_root().parent / "shared" / "datasets"


def set_threads(n: int | None = None) -> int:
    """Set PyTorch's intra-op threads (default: all cores, at most 2 interop threads).

    Called once by each command. On the 2-core project machines one process should own both
    cores; running two CPU-heavy processes side by side oversubscribes OpenMP badly.
    """
    import torch

    if n is None or n <= 0:
        n = int(os.environ.get("VESSELSEG_THREADS", 0)) or (os.cpu_count() or 1)
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(min(2, n))
    except RuntimeError:  # only settable before the first parallel op; harmless to skip
        pass
    return n


def machine_summary() -> dict:
    """What a timing was measured on: CPU model and vector extensions, threads, GPU if any."""
    import platform

    import torch

    cpu, isa = platform.processor() or platform.machine(), []
    try:
        info = Path("/proc/cpuinfo").read_text()
        for line in info.splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
                break
    except OSError:
        pass
    out = {"cpu": cpu, "isa": isa, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "torch": str(torch.__version__)}  # TorchVersion would not load with weights_only
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        # cuDNN convolutions run in TF32 by PyTorch's default: a precision that CPU runs never use
        out["cudnn_tf32"] = bool(torch.backends.cudnn.allow_tf32)
        out["matmul_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return out
