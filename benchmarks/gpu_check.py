"""What a maintainer runs on a CUDA machine to check the GPU paths of the training engine.

The CUDA code (autocast bf16/fp16 + GradScaler, the out-of-memory back-off, pinned memory,
NCCL DDP) cannot run in CI; this script runs each of them for real and prints one table:

1. fp32 vs AMP (the engine's ``mixed_precision="auto"``) for the default SpectrogramCNN and
   HybridCNNRNN: seconds per epoch, training crops/s and peak GPU memory, on generated
   log-mels (a class-dependent loud band, 128 mels, 3 s crops: no audio decoding, so this
   measures the engine, not the disk); and notebook 05's larger fine-tuning setting,
   ``musicnn-finetune`` with ``finetune="all"`` (every pretrained layer trains: 5-7x the cost
   of ``"top"`` per crop on a CPU), on musicnn's 96-band input (needs the ``musicnn`` package's
   weights, as notebook 05 does).
2. The OOM back-off: GPU memory is capped (``torch.cuda.set_per_process_memory_fraction``)
   and a batch too large for the cap is trained; the engine must halve the micro-batch,
   keep the effective batch and finish the epoch.
3. A checkpoint saved on the GPU, loaded on the CPU, and the same track predicted on both
   (largest probability difference).
4. A 1-GPU torchrun DDP run (NCCL) through the same ``fit``.

Without CUDA it takes its CPU fallback: the same steps on a smaller problem (float32 vs
bf16 autocast on CPU, DDP over gloo, the OOM step reported as skipped), so the script
itself stays tested (tests/test_gpu_check.py).

    PYTHONPATH=. python benchmarks/gpu_check.py                 # a CUDA machine: full sizes
    PYTHONPATH=. python benchmarks/gpu_check.py --batch-size 512 --tracks 256
    PYTHONPATH=. python benchmarks/gpu_check.py --cpu           # force the CPU fallback
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from muzo_lib.features.augment import AugmentConfig  # noqa: E402
from muzo_lib.features.spectrogram import MelConfig  # noqa: E402
from muzo_lib.models.devices import autocast_dtype, precision_name  # noqa: E402
from muzo_lib.models.networks import CNNConfig, HybridConfig, build_model  # noqa: E402
from muzo_lib.models.pretrained.finetune import MUSICNN_INPUT, PATCH_SECONDS, FinetuneConfig, MusicnnClassifier  # noqa: E402
from muzo_lib.training import distributed  # noqa: E402
from muzo_lib.training.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from muzo_lib.training.loop import TrackSet, TrainConfig, fit, predict_segments  # noqa: E402

CLASSES = [f"genre{i}" for i in range(10)]
MEL = MelConfig()
#: The row of notebook 05's larger setting: musicnn fine-tuned whole (``-p finetune all``).
FINETUNE_ALL = "musicnn-finetune all"


def generated_tracks(n_tracks: int, seconds: float = 10.0, seed: int = 0, mel: MelConfig = MEL) -> TrackSet:
    """``n_tracks`` log-mels (dB, ``mel.n_mels`` bands) whose loud band gives the class."""
    rng = np.random.default_rng(seed)
    frames, logmels, labels = mel.frames(seconds), [], []
    band = mel.n_mels // len(CLASSES)
    for i in range(n_tracks):
        c = i % len(CLASSES)
        x = rng.normal(-60, 4, (mel.n_mels, frames)).astype(np.float32)
        x[c * band:c * band + band * 2 // 3] += 35
        logmels.append(x.astype(np.float16))
        labels.append(c)
    return TrackSet(logmels, labels, [f"t{i}" for i in range(n_tracks)])


def make_model(architecture: str, seed: int = 0):
    torch.manual_seed(seed)
    if architecture == FINETUNE_ALL:
        return MusicnnClassifier(FinetuneConfig(n_classes=len(CLASSES), finetune="all")).load_pretrained()
    config = CNNConfig(n_classes=len(CLASSES)) if architecture == "cnn" else HybridConfig(n_classes=len(CLASSES))
    return build_model(config)


def train_config(device: str, batch_size: int, precision, **kw) -> TrainConfig:
    return TrainConfig(**{**dict(epochs=1, batch_size=batch_size, crops_per_track=4, device=device,
                                 mixed_precision=precision, augment=AugmentConfig.off(), progress=False,
                                 verbose=False, num_workers=0), **kw})


def n_valid(tracks: int, device: str) -> int:
    """Validation tracks: a quarter of the training tracks, at least one per class on CUDA."""
    return max(len(CLASSES) if device.startswith("cuda") else 2, tracks // 4)


def peak_memory_gb(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 1e9 if device.startswith("cuda") else None


def time_epochs(architecture, device, precision, train, valid, batch_size, epochs, mel: MelConfig = MEL,
                **config) -> dict:
    """Train ``epochs`` epochs and time them (on CUDA after one warm-up epoch: kernels, cuDNN's choice)."""
    model = make_model(architecture)
    if device.startswith("cuda"):
        fit(model, train, valid, CLASSES, mel, train_config(device, batch_size, precision, **config))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = fit(model, train, valid, CLASSES, mel, train_config(device, batch_size, precision, epochs=epochs, **config))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / epochs
    return {"check": f"{architecture} {'fp32' if precision is False else 'AMP'}", "precision": result.precision,
            "batch": batch_size, "s/epoch": seconds, "crops/s": result.segments_per_second,
            "peak GB": peak_memory_gb(device), "val acc %": result.final_val_acc}


def finetune_rows(device: str, tracks: int, batch_size: int, epochs: int) -> list[dict]:
    """fp32 and AMP rows of :data:`FINETUNE_ALL` on 96-band musicnn log-mels, or one row saying why not."""
    import importlib.util

    if importlib.util.find_spec("musicnn") is None:
        return [{"check": FINETUNE_ALL, "note": "skipped: the musicnn package (its weights) is not installed"}]
    tracks = tracks if device.startswith("cuda") else 2      # the CPU fallback only shows the path runs: 8 crops
    train = generated_tracks(tracks, mel=MUSICNN_INPUT)
    valid = generated_tracks(n_valid(tracks, device), seed=1, mel=MUSICNN_INPUT)
    return [time_epochs(FINETUNE_ALL, device, precision, train, valid, batch_size, epochs, mel=MUSICNN_INPUT,
                        segment_seconds=PATCH_SECONDS) for precision in (False, True)]


def oom_fraction(cap_gb: float) -> float:
    """The share of this card's memory that is ``cap_gb``: the cap must not grow with the card."""
    return min(1.0, cap_gb * 1e9 / torch.cuda.get_device_properties(0).total_memory)


def oom_backoff(device, train, valid, batch_size, fraction) -> dict:
    """Train with GPU memory capped at ``fraction`` and a batch that does not fit the cap."""
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(fraction)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            result = fit(make_model("cnn"), train, valid, CLASSES, MEL,
                         train_config(device, batch_size, "auto", verbose=True))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    halvings = out.getvalue().count("batch size halved")
    return {"check": f"OOM back-off (memory cap {fraction:.1%})", "precision": result.precision,
            "batch": batch_size, "s/epoch": result.training_time, "crops/s": result.segments_per_second,
            "peak GB": peak_memory_gb(device), "val acc %": result.final_val_acc,
            "note": f"{halvings} halvings, effective batch {result.effective_batch}" if halvings else "NO OOM: raise --oom-batch"}


def checkpoint_round_trip(device, train, valid, batch_size) -> dict:
    """Save on ``device``, load on the CPU, predict the same tracks on both."""
    model = make_model("cnn")
    fit(model, train, valid, CLASSES, MEL, train_config(device, batch_size, "auto"))
    frames = MEL.frames(3.0)
    on_device, _ = predict_segments(model, valid.logmels[:4], frames, torch.device(device), precision=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(Path(tmp) / "cnn.pt", model, MEL, CLASSES, 3.0)
        loaded = load_checkpoint(path, architecture="cnn", classes=CLASSES)
    on_cpu, _ = predict_segments(loaded.model, valid.logmels[:4], frames, torch.device("cpu"), precision=False)
    return {"check": f"checkpoint saved on {device}, predicted on cpu", "precision": "float32",
            "note": f"max |p_{device} - p_cpu| = {np.abs(on_device - on_cpu).max():.2e}"}


def ddp_run(device: str, tracks: int, batch_size: int) -> dict:
    """This script's DDP child under ``torchrun --nproc-per-node 1`` (NCCL on CUDA, gloo on CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ddp.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
                               __file__, "--ddp-child", str(out), "--device", device, "--tracks", str(tracks),
                               "--batch-size", str(batch_size)], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            return {"check": "torchrun DDP, 1 process", "note": "FAILED: " + done.stderr.strip().splitlines()[-1][:100]}
        child = json.loads(out.read_text())
    return {"check": f"torchrun DDP, 1 process ({child['backend']})", "precision": child["precision"],
            "batch": batch_size, "s/epoch": child["s/epoch"], "crops/s": child["crops/s"],
            "val acc %": child["val acc %"], "note": f"{wall:.0f} s with start-up, world size {child['world_size']}"}


def ddp_child(out: Path, device: str, tracks: int, batch_size: int) -> None:
    info = distributed.init_distributed(device)
    train, valid = generated_tracks(tracks), generated_tracks(n_valid(tracks, device), seed=1)
    result = fit(make_model("cnn"), train, valid, CLASSES, MEL, train_config(device, batch_size, "auto"))
    if info.is_main:
        out.write_text(json.dumps({"backend": info.backend, "world_size": info.world_size, "precision": result.precision,
                                   "s/epoch": float(np.mean(result.history["epoch_time"])),
                                   "crops/s": result.segments_per_second, "val acc %": result.final_val_acc}))
    distributed.shutdown()


def print_table(rows: list[dict]) -> None:
    columns = ["check", "precision", "batch", "s/epoch", "crops/s", "peak GB", "val acc %", "note"]
    def cell(value):
        if value is None:
            return "-"
        return f"{value:.3g}" if isinstance(value, float) else str(value)
    table = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(columns)]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("-|-".join("-" * w for w in widths))
    for t in table:
        print(" | ".join(v.ljust(w) for v, w in zip(t, widths)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="take the CPU fallback even where CUDA is present")
    parser.add_argument("--tracks", type=int, default=None, help="generated training tracks (10 s each)")
    parser.add_argument("--batch-size", type=int, default=None, help="crops per step (GPU default 256)")
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs per row")
    parser.add_argument("--oom-batch", type=int, default=4096, help="batch for the OOM check")
    parser.add_argument("--oom-cap-gb", type=float, default=1.0,
                        help="GPU memory cap for the OOM check, in GB (a fraction of the card would let a large card "
                             "fit the whole batch: 5%% of an H200 held a 4096 batch)")
    parser.add_argument("--ddp-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--device", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_child is not None:
        ddp_child(args.ddp_child, args.device, args.tracks, args.batch_size)
        return 0

    gpu = torch.cuda.is_available() and not args.cpu
    device = "cuda" if gpu else "cpu"
    tracks = args.tracks or (512 if gpu else 4)
    batch = args.batch_size or (256 if gpu else 8)
    epochs = args.epochs or (3 if gpu else 1)
    train, valid = generated_tracks(tracks), generated_tracks(n_valid(tracks, device), seed=1)
    where = torch.cuda.get_device_name() if gpu else f"CPU fallback (no CUDA{' used' if args.cpu else ''})"
    amp = precision_name(autocast_dtype(torch.device(device), True))
    print(f"# gpu_check on {where}; torch {torch.__version__}; {tracks} tracks x 4 crops of 3 s per epoch; AMP = {amp}")
    rows = []
    for architecture in ("cnn", "hybrid"):
        for precision in (False, True):
            rows.append(time_epochs(architecture, device, precision, train, valid, batch, epochs))
    rows += finetune_rows(device, tracks, batch, epochs)
    rows.append(oom_backoff(device, train, valid, args.oom_batch, oom_fraction(args.oom_cap_gb)) if gpu else
                {"check": "OOM back-off", "note": "skipped: needs CUDA (simulated in tests/test_training.py)"})
    rows.append(checkpoint_round_trip(device, train, valid, batch))
    rows.append(ddp_run(device, tracks, batch))
    print_table(rows)
    return 0 if all("FAILED" not in str(r.get("note", "")) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
