"""Data-parallel helpers over ``torch.distributed`` (launched by ``torchrun``); no-ops in one process.

Each rank samples, validates and grades its own share in its own sandbox; ranks then exchange the
accepted tasks (so every buffer stays identical) and the rewards (so advantages are normalised over
the global batch), and DDP averages gradients.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar, cast

import torch
import torch.distributed as dist

__all__ = ["World", "barrier", "gather", "init_world"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world() -> World:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1): NCCL with GPUs, else gloo."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def gather(value: T, world: World) -> list[T]:
    """Every rank's ``value``, in rank order (a one-element list in one process)."""
    if world.size == 1:
        return [value]
    out: list[T | None] = [None] * world.size
    dist.all_gather_object(out, value)
    return cast(list[T], out)


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
