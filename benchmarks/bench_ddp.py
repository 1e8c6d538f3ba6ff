"""One process with N threads vs N torchrun (DDP, gloo) processes of 1 thread, on CPU.

Both train the default SpectrogramCNN with the same global batch on the same generated
log-mels (benchmarks/gpu_check.py's), through the same ``fit``. On one machine's CPU cores
DDP is not expected to win: it runs the same arithmetic in N smaller batches and adds a
gradient all-reduce per step; it pays with several GPUs (or machines), not several cores.
The table tells users where they stand.

    PYTHONPATH=. python benchmarks/bench_ddp.py [--nproc 2] [--tracks 16] [--epochs 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_check import CLASSES, MEL, generated_tracks, make_model, train_config  # noqa: E402

from muzo_lib.training import distributed  # noqa: E402
from muzo_lib.training.loop import fit  # noqa: E402


def measure(tracks: int, epochs: int, batch: int) -> dict:
    """Train here (alone or as one torchrun rank) and return rank 0's figures."""
    train, valid = generated_tracks(tracks), generated_tracks(max(4, tracks // 4), seed=1)
    result = fit(make_model("cnn"), train, valid, CLASSES, MEL,
                 train_config("cpu", batch, False, epochs=epochs, crops_per_track=4))
    epoch_times = result.history["epoch_time"]
    return {"world_size": result.world_size, "threads": torch.get_num_threads(), "batch": result.effective_batch,
            "crops/s": result.segments_per_second, "s/epoch": float(np.median(epoch_times[1:] or epoch_times)),
            "train_loss": result.history["train_loss"], "val_loss": result.history["val_loss"]}


def run_ddp(args) -> dict:
    """This script's child under torchrun with ``args.nproc`` 1-thread processes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ddp.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
                        __file__, "--child", str(out), "--tracks", str(args.tracks), "--epochs", str(args.epochs),
                        "--batch", str(args.batch)], check=True, capture_output=True, env=env)
        return json.loads(out.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes for DDP = threads for the single process")
    parser.add_argument("--tracks", type=int, default=16, help="generated training tracks (10 s each)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs (the median skips the first)")
    parser.add_argument("--batch", type=int, default=16, help="global batch (crops per optimizer step)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating single/DDP measurements")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:                      # one torchrun rank
        distributed.init_distributed("cpu")
        torch.set_num_threads(1)
        figures = measure(args.tracks, args.epochs, args.batch // distributed.current().world_size)
        if distributed.current().is_main:
            args.child.write_text(json.dumps(figures))
        distributed.shutdown()
        return 0

    pairs = []
    for _ in range(args.repeats):                   # alternate, so a busy machine slows all alike
        torch.set_num_threads(1)
        one_thread = measure(args.tracks, args.epochs, args.batch)
        torch.set_num_threads(args.nproc)
        pairs.append((measure(args.tracks, args.epochs, args.batch), run_ddp(args), one_thread))
    single, ddp, _ = pairs[-1]
    print(f"# default SpectrogramCNN, float32, {args.tracks} tracks x 4 crops of 3 s, global batch {args.batch}, "
          f"{os.cpu_count()} CPUs; {args.repeats} alternating repeat(s), load average {os.getloadavg()[0]:.1f}")
    print("setup                          | crops/s (each repeat)  | s/epoch (median) | final train loss | final val loss")
    print("-------------------------------|------------------------|------------------|------------------|---------------")
    for name, runs in ((f"1 process x {single['threads']} threads", [p[0] for p in pairs]),
                       (f"{ddp['world_size']} DDP processes x 1 thread", [p[1] for p in pairs]),
                       ("1 process x 1 thread", [p[2] for p in pairs])):
        rates = " ".join(f"{r['crops/s']:.1f}" for r in runs)
        print(f"{name:<30} | {rates:<22} | {np.median([r['s/epoch'] for r in runs]):16.2f} | "
              f"{runs[-1]['train_loss'][-1]:16.4f} | {runs[-1]['val_loss'][-1]:.4f}")
    ratios = [d["crops/s"] / s["crops/s"] for s, d, _ in pairs]
    print(f"DDP / single throughput per repeat: {', '.join(f'{r:.2f}x' for r in ratios)} "
          f"(median {np.median(ratios):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
