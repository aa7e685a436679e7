"""Multi-process training under ``torchrun``: process group from the environment, batch sharding, sync checks.

Every rank holds the same weights, draws the same epoch permutation and computes the same masks from the same
weights, so pruning needs no extra communication; each rank trains on its slice of every global batch and
DistributedDataParallel averages the gradients. Only rank 0 writes files.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import Tensor, nn

from edge_gmp.errors import UserError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_from_env() -> Ranks:
    """Join the process group torchrun describes (WORLD_SIZE > 1): gloo for CPU tensors and, where CUDA is
    available, nccl for CUDA tensors (one group serves both, so ``train.device`` decides)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    _joined.append(True)
    return current()


_joined: list[bool] = []  # whether this process ever joined a process group


def exit_process(code: int) -> NoReturn:
    """End the process with ``code``. A process that joined a process group leaves without the interpreter's
    teardown once its output is flushed: gloo's worker threads can still be joinable when that teardown
    destroys them, and the rank then aborts ("terminate called without an active exception") after a run that
    finished correctly. The run's files are closed by then (each is written to a temporary file and renamed)."""
    if not _joined:
        sys.exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def device_for(requested: str, ranks: Ranks) -> torch.device:
    """The torch device this rank trains on: ``requested`` ("cpu", "cuda", "cuda:N"); under torchrun a plain
    "cuda" means this process's GPU (LOCAL_RANK)."""
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"train.device={requested!r} but CUDA is not available to this torch "
                            f"({torch.__version__}); use --device cpu")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if ranks.distributed else 0)
        torch.cuda.set_device(device)
    return device


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def shutdown(synchronize: bool = True) -> None:
    """Leave the process group. With ``synchronize`` every rank first waits for the others: a rank that tears
    gloo down while a peer is still connected can abort ("terminate called without an active exception").
    Skip it after an unexpected error, when a peer may be stuck in a collective and would never arrive."""
    if dist.is_available() and dist.is_initialized():
        try:
            if synchronize:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def barrier() -> None:
    if current().distributed:
        dist.barrier()


def local_slice(indices: Tensor, ranks: Ranks) -> Tensor:
    """This rank's share of a global batch (every ``world``-th sample, starting at ``rank``)."""
    return indices[ranks.rank::ranks.world]


def loss_weight(local: int, global_: int, ranks: Ranks) -> float:
    """Scale of a rank's mean loss so DDP's gradient average equals the global batch's mean gradient, also
    when the last batch does not split evenly."""
    return local * ranks.world / global_ if ranks.distributed else 1.0


def mean_over_ranks(t: Tensor) -> Tensor:
    """``t`` averaged over ranks (itself in one process)."""
    if not current().distributed:
        return t
    total = t.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def all_sum(values: list[float]) -> list[float]:
    if not current().distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def wrap(model: nn.Module, ranks: Ranks, device: torch.device | None = None) -> nn.Module:
    """DistributedDataParallel over the process group (BatchNorm statistics stay per rank, as without
    SyncBatchNorm, which CPU tensors do not support)."""
    if not ranks.distributed:
        return model
    if device is not None and device.type == "cuda":
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def average_buffers(model: nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks. Each rank updates them from its
    own shard in every training forward, so without this the ranks would validate, select and save different
    models."""
    if not current().distributed:
        return
    world = dist.get_world_size()
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer.div_(world)


def check_in_sync(model: nn.Module, masks: dict[str, Tensor]) -> None:
    """Raise if any rank's weights or masks differ from rank 0's (a fingerprint per tensor)."""
    ranks = current()
    if not ranks.distributed:
        return
    prints = [p.detach().double().abs().sum() + p.detach().double().sum() for p in model.state_dict().values()
              if p.is_floating_point()]
    prints += [m.double().sum() for m in masks.values()]
    mine = torch.stack(prints) if prints else torch.zeros(1, dtype=torch.float64)
    theirs = mine.clone()
    dist.broadcast(theirs, src=0)
    if not torch.equal(mine, theirs):
        raise RuntimeError(f"rank {ranks.rank}: weights or masks differ from rank 0's")
