"""Feature extraction speed: naive librosa vs AudioFeatureExtractor, per part, and the
parallel + cached dataset path vs a plain sequential loop (cold and warm).

    OMP_NUM_THREADS=1 python benchmarks/bench_features.py [audio_dir] [--clips N]

``audio_dir`` defaults to $MUZO_REAL_DATA (30 s GTZAN clips), else the generated dataset.
Single-clip timings are best-of-3 on one core (BLAS/FFT threads pinned to 1); numba's
first-call compilation is done before any timing.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from muzo_lib.features.handmade import AudioFeatureExtractor, extract_dataset, naive_gtzan_features  # noqa: E402
from muzo_lib.io.audio import load_audio  # noqa: E402


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("audio_dir", nargs="?", default=os.environ.get("MUZO_REAL_DATA", ""))
    parser.add_argument("--clips", type=int, default=30, help="files for the dataset-path comparison")
    args = parser.parse_args()
    if args.audio_dir:
        root = Path(args.audio_dir)
    else:
        from muzo_lib.data.synth import ensure_generated_dataset
        root = ensure_generated_dataset()
    paths = sorted(p for p in root.rglob("*.wav"))[: args.clips]
    y = load_audio(paths[0])
    print(f"clip: {paths[0].name}, {len(y) / 22050:.1f} s; {os.cpu_count()} cores")

    fast57 = AudioFeatureExtractor(extras=False)
    fast_all = AudioFeatureExtractor()
    fast_all.extract_all_features(y, 22050)  # warm-up: numba compile, librosa caches
    naive_gtzan_features(y)
    t_naive = best_of(lambda: naive_gtzan_features(y))
    t_fast = best_of(lambda: fast57.extract_all_features(y, 22050))
    t_all = best_of(lambda: fast_all.extract_all_features(y, 22050))
    print("\n== one clip, one core (best of 3) ==")
    print(f"naive librosa, 57 table columns : {t_naive:7.3f} s")
    print(f"AudioFeatureExtractor, 57 cols  : {t_fast:7.3f} s   ({t_naive / t_fast:.1f}x faster)")
    print(f"AudioFeatureExtractor, + extras : {t_all:7.3f} s   ({t_naive / t_all:.1f}x faster)")
    parts = {}
    for _ in range(3):
        p = {}
        fast_all.extract_all_features(y, 22050, timings=p)
        parts = {k: min(v, parts.get(k, np.inf)) for k, v in p.items()}
    print("per part (s): " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))

    import librosa
    import scipy.ndimage as ndi

    from muzo_lib.features.handmade import median_filter_1d
    S = np.abs(librosa.stft(y))
    t_scipy = best_of(lambda: (ndi.median_filter(S, size=(1, 31), mode="reflect"),
                               ndi.median_filter(S, size=(31, 1), mode="reflect")))
    t_ours = best_of(lambda: (median_filter_1d(S, 31, 1), median_filter_1d(S, 31, 0)))
    print(f"HPSS median filters {S.shape}: scipy.ndimage {t_scipy:.3f} s, running median {t_ours:.3f} s "
          f"({t_scipy / t_ours:.1f}x)")

    print(f"\n== dataset path, {len(paths)} files ==")
    start = time.perf_counter()
    for p in paths:
        fast_all.extract_all_features(p)
    t_loop = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        _, errors = extract_dataset(paths, cache, fast_all, n_jobs=-1, progress=False)
        t_cold = time.perf_counter() - start
        start = time.perf_counter()
        extract_dataset(paths, cache, fast_all, n_jobs=-1, progress=False)
        t_warm = time.perf_counter() - start
    print(f"sequential loop (this process)    : {t_loop:7.2f} s")
    print(f"extract_dataset, all cores, cold  : {t_cold:7.2f} s   ({t_loop / t_cold:.2f}x; includes worker start-up)")
    print(f"extract_dataset, warm cache       : {t_warm:7.2f} s   ({t_loop / t_warm:.0f}x)")
    if errors:
        print(f"skipped: {errors}")


if __name__ == "__main__":
    main()
