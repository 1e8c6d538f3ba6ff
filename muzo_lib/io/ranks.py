"""Where this process stands among ``torch.distributed`` ranks, readable from every layer.

The per-track caches (``features``) shard their work over ranks and the training loop
(``training``) shards its batches; both ask the same questions (which rank am I, how many are
we, wait for the others, gather a small value from everyone), so the answers live here, in the
lowest layer. Joining a process group is :func:`muzo_lib.training.distributed.init_distributed`'s
job; this module only reads one that exists.

It never imports torch itself: a process group can only exist once ``torch.distributed`` is
imported, so a torch-free process (an ``.onnx`` predictor) stays torch-free.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a torchrun job (``rank 0 of 1`` when alone)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        """True inside an initialised process group (even a group of one)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """True for the process that writes files and prints (rank 0)."""
        return self.rank == 0


def process_group():
    """``torch.distributed`` when this process is in an initialised group, else ``None``."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def current() -> DistInfo:
    """This process's :class:`DistInfo` without starting anything."""
    dist = process_group()
    if dist is None:
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_backend())


def barrier() -> None:
    """Wait until every rank gets here (no-op alone); waits up to the process group's timeout."""
    if current().world_size > 1:
        process_group().barrier()


def all_gather_objects(obj) -> list:
    """``obj`` from every rank, in rank order (``[obj]`` alone). Small picklable values only.

    Every rank must call it (it is also a meeting point: no rank returns before all have
    called it), and it waits up to the process group's timeout for the slowest.
    """
    info = current()
    if info.world_size == 1:
        return [obj]
    out = [None] * info.world_size
    process_group().all_gather_object(out, obj)
    return out


def cores_per_rank() -> int:
    """This process's share of the machine's cores: all of them alone, ``cores / LOCAL_WORLD_SIZE``
    under torchrun (which sets it), so ranks that share a machine do not each start a worker
    per core and fight over them."""
    ranks_here = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, (os.cpu_count() or 1) // ranks_here)
