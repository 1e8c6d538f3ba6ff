"""musicnn embedding time per 30 s clip: the straight float32 port vs the folded network, side by side.

    python benchmarks/bench_musicnn.py [CLIPS_DIR] [--clips N] [--repeats R] [--threads T]

CLIPS_DIR defaults to $MUZO_REAL_DATA (GTZAN clips) or else the built-in generated dataset.
Each clip is decoded to 16 kHz and cut to its first 30 s before timing. One "embedding" is
what ``muzo_lib.models.pretrained.embed`` does: the float32 log-mel front end plus the network on
the clip's ten 3 s patches, in one batch. The variants run round-robin, clip by clip, so a
load spike from other processes hits all of them alike; the table gives the median and the
best time per clip, and how far each variant's penultimate layer (the embedding) lies from
the straight float32 port's, in absolute units.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from muzo_lib.io.audio import AUDIO_EXTENSIONS, load_audio  # noqa: E402
from muzo_lib.models.devices import cpu_has_native_bf16  # noqa: E402
from muzo_lib.models.pretrained.embeddings import Embedder, EmbeddingConfig  # noqa: E402
from muzo_lib.models.pretrained.musicnn import FoldedMusicnn, load_musicnn  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips_dir", nargs="?", default=os.environ.get("MUZO_REAL_DATA", ""))
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.clips_dir:
        root = Path(args.clips_dir)
    else:
        from muzo_lib.data.synth import ensure_generated_dataset
        root = ensure_generated_dataset()
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    paths = paths[:: max(1, len(paths) // args.clips)][: args.clips]
    waves = [load_audio(p, 16000, duration=30.0) for p in paths]

    front = Embedder(EmbeddingConfig(precision="float32"))       # its log-mel front end, shared by all variants
    straight = load_musicnn("MSD_musicnn")

    def straight_f32(patches):
        with torch.inference_mode():
            return straight(patches).penultimate

    def straight_bf16(patches):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return straight(patches).penultimate.float()

    folded32, folded16 = FoldedMusicnn(straight, torch.float32), FoldedMusicnn(straight, torch.bfloat16)
    variants = {"straight port, float32": straight_f32, "straight port, bf16 autocast": straight_bf16,
                "folded, float32": lambda p: folded32(p).penultimate,
                "folded, bf16 convolutions": lambda p: folded16(p).penultimate}
    times = {name: [] for name in variants}
    drift = {name: 0.0 for name in variants}
    front_ms = []
    for fn in variants.values():            # warm-up: oneDNN builds its kernels on first use
        fn(front.patches(waves[0]))
    for _ in range(args.repeats):
        for y in waves:
            start = time.perf_counter()
            patches = front.patches(y)
            front_ms.append(1000 * (time.perf_counter() - start))
            reference = None
            for name, fn in variants.items():
                start = time.perf_counter()
                out = fn(patches)
                times[name].append(time.perf_counter() - start)
                reference = out if reference is None else reference
                drift[name] = max(drift[name], float((out - reference).abs().max()))

    front_s = float(np.median(front_ms)) / 1000
    print(f"{len(waves)} clips x {args.repeats} repeats from {root}; {args.threads} threads; "
          f"native bf16: {cpu_has_native_bf16()}; 10 patches of 3 s per 30 s clip")
    print(f"log-mel front end (float32): median {1000 * front_s:.1f} ms per clip, included in the first columns")
    base = float(np.median(times["straight port, float32"]))
    print(f"{'variant':32s} {'median s/clip':>14s} {'best s/clip':>12s} {'speed-up':>9s} {'network only':>13s} "
          f"{'speed-up':>9s} {'max |d embedding|':>18s}")
    for name, t in times.items():
        median, best = float(np.median(t)), float(np.min(t))
        print(f"{name:32s} {median + front_s:14.3f} {best + front_s:12.3f} {(base + front_s) / (median + front_s):8.2f}x "
              f"{median:13.3f} {base / median:8.2f}x {drift[name]:18.4f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average over the last minute at the end: {load:.2f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
