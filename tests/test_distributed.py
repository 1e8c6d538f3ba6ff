"""DDP through the one training engine: torchrun with 2 gloo processes on CPU against one
process with the same global batch (issue 13)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ddp_worker import CLASSES, MEL, train_both

from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
from muzo_lib.training import distributed
from muzo_lib.training.checkpoints import load_checkpoint, load_training_state
from muzo_lib.training.loop import fit

REPO = Path(__file__).resolve().parent.parent


def torchrun(*args, nproc=2, timeout=240, cwd=None, env=None):
    """``python -m torch.distributed.run --standalone --nproc-per-node N ARGS`` with this checkout importable."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    done = torchrun(REPO / "tests" / "ddp_worker.py", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                       # the same kernels as the 1-thread ranks
    try:
        return train_both(1, tmp_path_factory.mktemp("single"))
    finally:
        torch.set_num_threads(threads)


def test_ddp_without_batchnorm_reproduces_one_process_with_the_same_global_batch(two_process_run, one_process_run):
    _, ddp = two_process_run
    assert ddp["world_size"] == 2 and ddp["cnn_effective_batch"] == 8
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_segment_acc", "lr"):
        # same crops per global batch, gradients averaged over ranks: only float summation order differs
        np.testing.assert_allclose(ddp["plain"][key], one_process_run["plain"][key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_ddp_cnn_matches_one_process_within_batchnorm_tolerance(two_process_run, one_process_run):
    """BatchNorm normalises each rank's 4 crops instead of the global 8 (SyncBatchNorm needs
    CUDA), so the CNN's curves drift apart a little; both must learn the toy task."""
    _, ddp = two_process_run
    single = one_process_run["cnn"]
    assert abs(ddp["cnn"]["train_loss"][0] - single["train_loss"][0]) < 0.05     # the same start
    assert np.max(np.abs(np.subtract(ddp["cnn"]["train_loss"], single["train_loss"]))) < 0.3
    assert ddp["cnn"]["val_acc"][-1] == single["val_acc"][-1] == 100.0
    assert ddp["cnn"]["val_loss"][-1] < 0.3 and single["val_loss"][-1] < 0.3


def test_only_rank_0_writes_one_checkpoint_pair_that_loads_and_resumes_in_one_process(two_process_run):
    out, ddp = two_process_run
    assert sorted(p.name for p in out.iterdir()) == ["cnn.last.pt", "cnn.pt", "result.json"]   # no stray temp files
    best = load_checkpoint(out / "cnn.pt", architecture="cnn", classes=CLASSES)
    assert best.extra["epoch"] == int(np.argmin(ddp["cnn"]["val_loss"])) + 1          # chosen by val_loss
    assert load_training_state(out / "cnn.last.pt")["epoch"] == 6
    # resume across a changed world size: 2 processes wrote it, one process goes on
    model = SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 8, 8, 8), hidden=16, dropout=0.0))
    from ddp_worker import config, toy_tracks
    more = fit(model, toy_tracks(6, 0), toy_tracks(3, 1), CLASSES, MEL, config(1, epochs=7, learning_rate=1e-2),
               checkpoint_path=out / "cnn.pt", resume=True)
    assert more.resumed_after_epoch == 6 and more.history["val_loss"][:6] == ddp["cnn"]["val_loss"]


def test_outside_torchrun_nothing_is_initialised(monkeypatch):
    for name in distributed.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    info = distributed.init_distributed("cpu")
    assert not info.active and info.world_size == 1 and info.is_main
    assert distributed.all_reduce_sum([1.0, 2.0]) == [1.0, 2.0] and distributed.all_gather_objects("x") == ["x"]
    with distributed.main_process_first() as ctx:
        assert ctx.is_main


def test_accumulation_micro_steps_skip_the_gradient_all_reduce(tmp_path):
    """Under DDP only the last micro-batch of an optimizer step averages gradients (no_sync before)."""
    from torch import distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from muzo_lib.training import loop as training

    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.FileStore(str(tmp_path / "store"), 1))
    try:
        torch.manual_seed(0)
        model = DistributedDataParallel(torch.nn.Linear(5, 3))
        reductions = []

        def counting(state, bucket):
            reductions.append(1)
            future = torch.futures.Future()
            future.set_result(bucket.buffer())
            return future

        model.register_comm_hook(None, counting)
        x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
        targets = torch.nn.functional.one_hot(y, 3).float()
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        training._forward_backward(model, x, targets, y, 2, 2, None, scaler, 0.0, sync=False)   # 4 micro-batches
        assert reductions == []
        training._forward_backward(model, x, targets, y, 2, 2, None, scaler, 0.0, sync=True)
        assert len(reductions) == 1                                     # once, at the step's last micro-batch
    finally:
        dist.destroy_process_group()
