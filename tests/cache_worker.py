"""One rank of tests/test_cache_ranks.py: joins a 2-process gloo group on the loopback
address and builds a :class:`~muzo_lib.features.cache.LogMelCache` (``keep=False``: checks it,
holding no value), writing what it got (values, errors, the paths it computed itself) to
``OUT/rank<r>.npz`` and ``.json``."""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import distributed as dist

from muzo_lib.features.cache import LogMelCache
from muzo_lib.features.spectrogram import MelConfig

MEL = MelConfig(n_mels=32)


def build_on_rank(rank: int, world_size: int, port: int, paths: list[str], cache_dir: str, out_dir: str,
                  keep: bool = True) -> None:
    """``torch.multiprocessing.spawn``'s target: rank ``rank`` of ``world_size`` (gloo, 127.0.0.1:``port``)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=120))
    try:
        cache = LogMelCache(cache_dir, MEL)
        values, errors = cache.build(paths, n_jobs=1, progress=False, keep=keep)
    finally:
        dist.destroy_process_group()
    out = Path(out_dir)
    np.savez(out / f"rank{rank}.npz", **{str(i): values[p] for i, p in enumerate(paths) if p in values and keep})
    (out / f"rank{rank}.json").write_text(json.dumps({"values": [p for p in paths if p in values],
                                                      "markers": [values[p] is True for p in paths if p in values],
                                                      "errors": errors, "computed": cache.computed}))
