"""Multi-process training under ``torchrun``: process group from the environment, batch sharding, sync checks.

Every rank holds the same weights, draws the same epoch permutation and computes the same masks from the same
weights, so pruning needs no extra communication; each rank trains on its slice of every global batch and
DistributedDataParallel averages the gradients. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


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
    """Join the process group torchrun describes (WORLD_SIZE > 1). Training runs on CPU, hence gloo (nccl
    belongs with CUDA training, which the pipeline does not offer yet)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    return current()


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
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


def all_sum(values: list[float]) -> list[float]:
    if not current().distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def wrap(model: nn.Module, ranks: Ranks) -> nn.Module:
    if not ranks.distributed:
        return model
    return nn.parallel.DistributedDataParallel(model)


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
