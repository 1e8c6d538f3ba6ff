"""Several processes training one model: torchrun's environment and the few collective
operations the training loop needs (DistributedDataParallel, DDP).

``torchrun`` (``python -m torch.distributed.run``) starts one process per GPU (or per CPU
slot) and tells each one who it is through ``RANK`` (0..world size-1, over every
machine), ``LOCAL_RANK`` (its GPU on this machine), ``WORLD_SIZE`` and the rendezvous
address. :func:`init_distributed` joins that group (NCCL on CUDA, gloo on CPU); outside
torchrun it changes nothing and :class:`DistInfo` says "one process", so the same code
runs alone or as one of many.

Rules the training engine follows (see :func:`muzo_lib.training.loop.fit`): every rank runs
the same loop on its shard of the data; validation is sharded and gathered, so every
rank sees the same metrics and takes the same early-stopping and LR decisions; only
rank 0 (:attr:`DistInfo.is_main`) writes files and prints.

:class:`DistInfo`, :func:`current`, :func:`barrier` and :func:`all_gather_objects` live in
:mod:`muzo_lib.io.ranks` (the per-track caches of ``features`` need them too) and are
importable from here as well.

Example (2 processes on one machine, CPU or GPU)::

    torchrun --standalone --nproc-per-node 2 -m muzo_lib.cli train --data-dir my_music ...
"""
from __future__ import annotations

import contextlib
import datetime
import os

import torch
from torch import distributed as dist

from muzo_lib.io.ranks import DistInfo, all_gather_objects, barrier, current  # noqa: F401  (this module's API too)

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """True when torchrun (or an equivalent launcher) set ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``."""
    return all(name in os.environ for name in ENV_VARS)


def init_distributed(device: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join torchrun's process group once (later calls return the same group).

    Args:
        device: the training device asked for (``None``/``"auto"``/``"cuda"``/``"cpu"``): CUDA
            uses NCCL and binds this process to GPU ``LOCAL_RANK``; CPU uses gloo.
        timeout_s: how long a collective waits for the slowest rank, seconds (long enough
            for rank 0 to scan a large dataset, or the slowest rank to finish its share of a
            per-track cache, while the others wait).

    Returns:
        :class:`DistInfo`; ``rank 0 of 1`` and inactive outside torchrun.
    """
    if not dist.is_available() or (not dist.is_initialized() and not launched_by_torchrun()):
        return DistInfo()
    if not dist.is_initialized():
        local_rank = int(os.environ["LOCAL_RANK"])
        cuda = torch.cuda.is_available() and (device is None or str(device) in ("auto", "") or str(device).startswith("cuda"))
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    return current()


def training_device(info: DistInfo, device: str | None) -> str | None:
    """The device one rank trains on: its own GPU (``cuda:LOCAL_RANK``) under NCCL, else ``device``."""
    if info.backend == "nccl":
        return f"cuda:{info.local_rank}"
    return device


def shutdown() -> None:
    """Leave the process group (end of a torchrun job); nothing outside one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def main_process_first():
    """Run the block on rank 0 first, then on the others: rank 0 makes what must be made
    once (a dataset scan and its manifest), the others find it ready instead of racing it.

    Not for per-track caches: their ``build`` shards the work over every rank (and meets the
    other ranks inside), so it must run on all ranks at once, outside this block."""
    info = current()
    if info.world_size > 1 and not info.is_main:
        dist.barrier()
    try:
        yield info
    finally:
        if info.world_size > 1 and info.is_main:
            dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Element-wise sum of ``values`` over every rank (float64; unchanged alone)."""
    if current().world_size == 1:
        return [float(v) for v in values]
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
