"""Data-parallel training with PyTorch's own launcher: ``torchrun ... -m vesselseg train CONFIG``.

torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous variables; when
``WORLD_SIZE > 1`` the trainer joins the process group (NCCL on GPUs, gloo on CPUs) and wraps the
model in ``DistributedDataParallel``. The split of work:

* every rank draws the same global batch of ``train.batch_size`` patches (same seed, same epoch)
  and trains on its own contiguous slice of it (``torch.tensor_split``), so the global batch and
  the patch stream are those of a single-process run; DDP averages the gradients;
* BatchNorm is synchronised across ranks on GPUs (``SyncBatchNorm``); PyTorch has no CPU
  SyncBatchNorm, so on CPUs each rank normalises with its slice's statistics -- the only
  difference from a one-process run with the same global batch (see ``tests/test_distributed.py``);
* rank 0 alone writes the run folder (config, log, checkpoints, weights, card) and evaluates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vesselseg.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
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
    rank, world, local = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0)
    if world < 1:
        raise ConfigError(f"$WORLD_SIZE={world}: must be at least 1")
    if not 0 <= rank < world:
        size = f"$WORLD_SIZE={world}" if os.environ.get("WORLD_SIZE", "").strip() else "$WORLD_SIZE unset (1)"
        raise ConfigError(f"$RANK={rank} with {size}: need 0 <= RANK < WORLD_SIZE")
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if local_world < 1:
        raise ConfigError(f"$LOCAL_WORLD_SIZE={local_world}: must be at least 1")
    if not 0 <= local < local_world:
        raise ConfigError(f"$LOCAL_RANK={local} with $LOCAL_WORLD_SIZE={local_world}: "
                          "need 0 <= LOCAL_RANK < LOCAL_WORLD_SIZE")
    return rank, world, local


def setup() -> DistContext:
    """Join the process group if launched by torchrun with several processes (idempotent)."""
    ctx = DistContext(*env_ranks())
    if ctx.enabled and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group(backend=backend)
    return ctx


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def broadcast_flag(ctx: DistContext, flag: bool) -> bool:
    """Rank 0's boolean, on every rank (e.g. "the run folder is usable")."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1 if flag else 0])
    dist.broadcast(t, src=0)
    return bool(t.item())


def sum_across(ctx: DistContext, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over the ranks (for logging the global mean loss)."""
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def wrap_model(ctx: DistContext, model: torch.nn.Module) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` (with SyncBatchNorm on GPUs) or the model itself."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if torch.cuda.is_available():
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model).cuda(ctx.local_rank)
        return DistributedDataParallel(model, device_ids=[ctx.local_rank])
    return DistributedDataParallel(model)


def rank_slice(ctx: DistContext, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """This rank's contiguous part of a global batch (dimension 0)."""
    if not ctx.enabled:
        return tensors
    return tuple(torch.tensor_split(t, ctx.world_size)[ctx.rank] for t in tensors)


def threads_per_rank(ctx: DistContext, requested: int | None) -> int | None:
    """Share the machine's cores among the ranks on it (unless the config fixes a number)."""
    if requested or not ctx.enabled:
        return requested
    local = max(1, _env_int("LOCAL_WORLD_SIZE", ctx.world_size))  # checked >= 1 by env_ranks
    return max(1, (os.cpu_count() or 1) // local)


def cleanup(ctx: DistContext) -> None:
    """Leave the process group together. Every rank calls this once at the end of training (rank 0
    after writing the weights); without the barrier a worker rank could tear its gloo group down
    and exit while rank 0 still held the connection -- seen once in CI as the worker aborting
    ("terminate called without an active exception", SIGABRT)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
