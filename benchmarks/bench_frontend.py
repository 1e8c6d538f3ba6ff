"""Log-mel front end vs librosa, and cold vs warm (cached) extraction, side by side.

    python benchmarks/bench_frontend.py [CLIPS_DIR] [--clips N] [--repeats R]

CLIPS_DIR defaults to $MUZO_REAL_DATA (GTZAN clips, 30 s at 22050 Hz) or else the
built-in generated dataset. Settings: 22050 Hz, n_fft 2048, hop 512, 128 mels.
Audio is decoded before timing the two front ends, so both compute the same thing:
waveform in memory -> dB log-mel. librosa's first call JIT-compiles; it is done first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from muzo_lib.features.cache import LogMelCache  # noqa: E402
from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig, librosa_logmel  # noqa: E402
from muzo_lib.io.audio import AUDIO_EXTENSIONS, load_audio  # noqa: E402


def best_rate(fn, items, repeats):
    """Best clips/s over ``repeats`` passes (the least disturbed by other processes)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = max(best, len(items) / (time.perf_counter() - start))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips_dir", nargs="?", default=os.environ.get("MUZO_REAL_DATA", ""))
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.clips_dir:
        root = Path(args.clips_dir)
    else:
        from muzo_lib.data.synth import ensure_generated_dataset
        root = ensure_generated_dataset()
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)[: args.clips]
    config = MelConfig()
    waves = [load_audio(p, config.sample_rate) for p in paths]
    seconds = np.mean([len(w) for w in waves]) / config.sample_rate
    front = LogMelSpectrogram(config)
    tensors = [torch.from_numpy(w) for w in waves]

    librosa_logmel(waves[0], config)  # numba JIT warm-up, not timed
    with torch.inference_mode():
        front(tensors[0])
        worst = max(float(np.abs(front(t).numpy() - librosa_logmel(w, config)).max())
                    for t, w in zip(tensors, waves))
        ref_rate = best_rate(lambda w: librosa_logmel(w, config), waves, args.repeats)
        our_rate = best_rate(front, tensors, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        cache = LogMelCache(tmp, config)
        start = time.perf_counter()
        cache.build(paths, progress=False)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        cache.build(paths, progress=False)
        warm = time.perf_counter() - start

    print(f"{len(paths)} clips of {seconds:.1f} s from {root}; torch threads {torch.get_num_threads()}, "
          f"cpu count {os.cpu_count()}")
    print(f"{'librosa clips/s':>22} {'muzo clips/s':>14} {'ratio':>7} {'max |dB diff|':>14}")
    print(f"{ref_rate:22.1f} {our_rate:14.1f} {our_rate / ref_rate:6.2f}x {worst:14.5f}")
    print(f"{'cold extraction s':>22} {'warm (cached) s':>16} {'ratio':>7}")
    print(f"{cold:22.3f} {warm:16.4f} {cold / warm:6.1f}x")


if __name__ == "__main__":
    main()
