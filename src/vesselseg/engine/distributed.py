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

from vesselseg.settings import env_int, env_ranks


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
    local = max(1, env_int("LOCAL_WORLD_SIZE", ctx.world_size))  # checked >= 1 by env_ranks
    return max(1, (os.cpu_count() or 1) // local)


def cleanup(ctx: DistContext) -> None:
    """Leave the process group together. Every rank calls this once at the end of training (rank 0
    after writing the weights); without the barrier a worker rank could tear its gloo group down
    and exit while rank 0 still held the connection -- seen once in CI as the worker aborting
    ("terminate called without an active exception", SIGABRT)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
