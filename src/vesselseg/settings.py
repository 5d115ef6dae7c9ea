"""Process-wide settings: where the datasets live, and how many threads to use."""

from __future__ import annotations

import os
from pathlib import Path

from vesselseg.errors import ConfigError
from vesselseg.validation import env_whole_number, whole_number

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


def max_threads() -> int:
    """The most torch threads a command accepts: 256, or the core count where that is larger.

    More threads than cores only adds contention, but mild oversubscription is harmless and
    common (hyper-threads, containers), so the bound is generous; it exists because each thread
    reserves a stack, and a count like 100000 exhausts memory and crashes the process.
    """
    return max(256, os.cpu_count() or 1)


def max_workers() -> int:
    """The most ``--workers`` (decoding processes) accepted: twice the cores, at least 4, at most 64.

    Each worker is a whole Python process with torch loaded (a few hundred MB); beyond a couple
    per core they only compete with the network for the CPUs and fill memory.
    """
    return min(64, max(4, 2 * (os.cpu_count() or 1)))


def check_workers(n: int, what: str = "--workers") -> int:
    """``n`` decoding processes, or a :class:`~vesselseg.errors.ConfigError` outside ``0..max_workers()``."""
    return whole_number(n, what, 0, max_workers())


def env_threads() -> int:
    """``$VESSELSEG_THREADS`` (0 or unset: all cores), checked: a whole number from 0 to :func:`max_threads`."""
    return env_whole_number("VESSELSEG_THREADS", 0, lo=0, hi=max_threads(), unit="torch threads",
                            note="0: all cores")


def set_threads(n: int | None = None) -> int:
    """Set PyTorch's intra-op threads (default: all cores, at most 2 interop threads).

    ``n``: 1 to :func:`max_threads`; None or 0 takes ``$VESSELSEG_THREADS``, else all cores.
    A negative, non-integer or too large ``n`` is a :class:`~vesselseg.errors.ConfigError`.
    Called once by each command. On the 2-core project machines one process should own both
    cores; running two CPU-heavy processes side by side oversubscribes OpenMP badly.
    """
    n = 0 if n is None else whole_number(n, "threads", 0, max_threads())
    if n == 0:
        n = env_threads() or (os.cpu_count() or 1)
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(min(2, n))
    except RuntimeError:  # only settable before the first parallel op; harmless to skip
        pass
    return n


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where it cannot be read: not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512-BF16 or AMX-BF16): where it does not,
    oneDNN emulates bf16 and a training step was 10x slower than fp32 (docs/throughput.md).
    ``VESSELSEG_CPU_BF16=0/1`` overrides the detection."""
    forced = os.environ.get("VESSELSEG_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


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


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"${name}={value!r}: not a whole number (torchrun sets it to one)") from None


def env_ranks() -> tuple[int, int, int]:
    """``(RANK, WORLD_SIZE, LOCAL_RANK)`` from torchrun's variables, checked.

    Unset variables mean a single process (0, 1, 0). Set ones must be whole numbers with
    ``WORLD_SIZE >= 1`` and ``0 <= RANK < WORLD_SIZE`` (and ``0 <= LOCAL_RANK``, below
    ``LOCAL_WORLD_SIZE`` when that is set): a rank outside the world would silently do nothing.
    """
    rank, world, local = env_int("RANK", 0), env_int("WORLD_SIZE", 1), env_int("LOCAL_RANK", 0)
    if world < 1:
        raise ConfigError(f"$WORLD_SIZE={world}: must be at least 1")
    if not 0 <= rank < world:
        size = f"$WORLD_SIZE={world}" if os.environ.get("WORLD_SIZE", "").strip() else "$WORLD_SIZE unset (1)"
        raise ConfigError(f"$RANK={rank} with {size}: need 0 <= RANK < WORLD_SIZE")
    local_world = env_int("LOCAL_WORLD_SIZE", world)
    if local_world < 1:
        raise ConfigError(f"$LOCAL_WORLD_SIZE={local_world}: must be at least 1")
    if not 0 <= local < local_world:
        raise ConfigError(f"$LOCAL_RANK={local} with $LOCAL_WORLD_SIZE={local_world}: "
                          "need 0 <= LOCAL_RANK < LOCAL_WORLD_SIZE")
    return rank, world, local
