"""`muzo predict` latency and folder throughput vs the seed-style pipeline, side by side.

    python benchmarks/bench_predict.py [--files N] [--repeats R] [--architecture cnn|hybrid]

For 30 s files at 22050 Hz (generated with muzo_lib.data.synth, written to a temporary folder):

1. one file, warm call inside Python: ``predict_files(model, [file])`` (decode + log-mel +
   network on all 3 s segments in one batch) vs the seed-style call (``librosa.load`` +
   ``librosa.feature.melspectrogram`` + the seed's 84 M-parameter network on the full
   128 x 1292 input, float32);
2. one file, whole process: ``python -m muzo_lib.cli predict FILE --model PATH --json`` vs a
   process doing the seed-style steps (imports, model built, one prediction);
3. a folder of N files: files/s of ``predict_files`` (threads decode, segments of several files
   batched) vs the seed-style loop, one file after another.

Networks have random weights (speed does not depend on training). Warm-up calls are not timed,
nor is librosa's first-call JIT compilation (a one-time set-up). Each timing is the median of R
runs; the machine's load average is printed, as other processes disturb the figures.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from muzo_lib.data import synth  # noqa: E402
from muzo_lib.features.spectrogram import MelConfig  # noqa: E402
from muzo_lib.inference.prediction import load_model, predict_files  # noqa: E402
from muzo_lib.io.timing import measure_latency  # noqa: E402
from muzo_lib.models.devices import autocast_dtype, precision_name  # noqa: E402
from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN, count_parameters  # noqa: E402
from muzo_lib.training.checkpoints import save_checkpoint  # noqa: E402

SR, SECONDS, N_CLASSES = 22050, 30.0, 10

SEED_PROCESS = """
import sys, librosa, numpy as np, torch
from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
model = SpectrogramCNN(CNNConfig(n_classes=10, head="flatten", input_frames=1292)).eval()
y, sr = librosa.load(sys.argv[1], sr=22050, duration=30.0)
y = librosa.util.fix_length(y, size=22050 * 30)
S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128), ref=1.0)
with torch.inference_mode():
    p = torch.softmax(model(torch.from_numpy(S[None].astype(np.float32))), -1)
print(int(p.argmax()))
"""


class SeedPipeline:
    """The seed document's way: librosa decode + mel on the full 30 s, its 84 M network, float32."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = SpectrogramCNN(CNNConfig(n_classes=N_CLASSES, head="flatten", input_frames=1292)).eval()

    @torch.inference_mode()
    def __call__(self, path):
        import librosa

        y, sr = librosa.load(path, sr=SR, duration=SECONDS)
        y = librosa.util.fix_length(y, size=int(SR * SECONDS))
        S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128),
                                ref=1.0)
        return torch.softmax(self.model(torch.from_numpy(S[None].astype(np.float32))), -1).numpy()


def make_files(folder: Path, n: int) -> list[Path]:
    styles = [(g, s) for g, subs in synth.GENRES.items() for s in subs]
    files = []
    for i in range(n):
        genre, sub = styles[i % len(styles)]
        path = folder / f"{genre}_{sub}_{i:03d}.wav"
        sf.write(path, synth.render_track(genre, sub, seed=i, duration=SECONDS, sample_rate=SR), SR, subtype="PCM_16")
        files.append(path)
    return files


def process_time(argv: list[str], repeats: int) -> float:
    """Median wall time (ms) of a whole process, after one untimed run (OS file cache, numba cache)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return measure_latency(lambda: subprocess.run(argv, check=True, capture_output=True, env=env),
                           repeats=repeats, warmup=1)["median_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=32, help="30 s files in the folder (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (default 5)")
    parser.add_argument("--architecture", choices=("cnn", "hybrid"), default="cnn")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = make_files(tmp, args.files)
        torch.manual_seed(0)
        net = (SpectrogramCNN(CNNConfig(n_classes=N_CLASSES)) if args.architecture == "cnn"
               else HybridCNNRNN(HybridConfig(n_classes=N_CLASSES)))
        classes = [f"genre{i}" for i in range(N_CLASSES)]
        model_path = save_checkpoint(tmp / "model.pt", net.eval(), MelConfig(), classes, segment_seconds=3.0)
        ours = load_model(model_path, device="cpu")
        seed = SeedPipeline()
        print(f"ours: {args.architecture}, {count_parameters(net):,} parameters, 3 s segments batched, "
              f"{precision_name(autocast_dtype(ours.device, ours.precision))}; seed: {count_parameters(seed.model):,} parameters, float32")

        seed(files[0])  # librosa's JIT compilation and first-call set-up: not timed
        one = files[0]
        ours_warm = measure_latency(lambda: predict_files(ours, [one], progress=False), repeats=args.repeats)["median_ms"]
        seed_warm = measure_latency(lambda: seed(one), repeats=args.repeats)["median_ms"]

        ours_proc = process_time([sys.executable, "-m", "muzo_lib.cli", "predict", str(one), "--model",
                                  str(model_path), "--json"], args.repeats)
        seed_proc = process_time([sys.executable, "-c", SEED_PROCESS, str(one)], args.repeats)

        ours_folder = measure_latency(lambda: predict_files(ours, files, progress=False), repeats=max(2, args.repeats // 2),
                                      warmup=1)["median_ms"]
        seed_folder = measure_latency(lambda: [seed(f) for f in files], repeats=1, warmup=0)["median_ms"]
        ours_fps, seed_fps = len(files) / (ours_folder / 1000), len(files) / (seed_folder / 1000)

    rows = [("one 30 s file, warm call (ms)", ours_warm, seed_warm, seed_warm / ours_warm, "<= 50 ms"),
            ("one 30 s file, whole process (ms)", ours_proc, seed_proc, seed_proc / ours_proc, ""),
            (f"folder of {len(files)} x 30 s (files/s)", ours_fps, seed_fps, ours_fps / seed_fps, ">= 30 files/s")]
    print(f"\n{'measurement':38s} {'muzo':>9s} {'seed-style':>11s} {'speed-up':>9s}  target")
    for name, a, b, ratio, target in rows:
        print(f"{name:38s} {a:9.1f} {b:11.1f} {ratio:8.1f}x  {target}")
    print(f"\nload average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
