"""Network speed on this machine, ours beside the seed's, printed side by side.

1. Training throughput (crops/s) of the default pooled-head SpectrogramCNN on 3 s x 128-mel
   crops: float32 vs bf16 autocast + channels_last (the engine's choice where the CPU has
   native bf16), one optimizer step per batch of 32, through the engine's own step function.
2. Prediction of one 30 s file end to end (decode + log-mel + all 3 s segments in one batch):
   ``CNNMusicClassifier.predict`` vs the seed's pipeline (librosa load + melspectrogram +
   power_to_db, then the seed's 84 M-parameter Flatten network on the full 30 s).

Timings are medians over repeats after warm-up (librosa's first-call JIT is excluded).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_cnn.py [--file clip.wav] [--repeats 15]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from muzo_lib.classifiers import CNNMusicClassifier  # noqa: E402
from muzo_lib.devices import cpu_has_native_bf16  # noqa: E402
from muzo_lib.models import CNNConfig, SpectrogramCNN, count_parameters  # noqa: E402
from muzo_lib.spectrogram import MelConfig  # noqa: E402
from muzo_lib.timing import measure_latency  # noqa: E402
from muzo_lib.training import _forward_backward  # noqa: E402


def median_time(fn, repeats: int, warmup: int = 3) -> float:
    """Median seconds per call (muzo_lib's latency helper, in seconds)."""
    return measure_latency(fn, repeats, warmup)["median_ms"] / 1000


def training_throughput(precision: torch.dtype | None, channels_last: bool, repeats: int, batch: int = 32) -> float:
    torch.manual_seed(0)
    model = SpectrogramCNN(CNNConfig(n_classes=10))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    x = torch.randn(batch, 128, MelConfig().frames(3.0)) * 10 - 40
    y = torch.randint(0, 10, (batch,))
    targets = torch.nn.functional.one_hot(y, 10).float()

    def step():
        _forward_backward(model, x, targets, y, batch, 1, precision, scaler, 0.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return batch / median_time(step, repeats)


def seed_pipeline(model, path: str):
    import librosa
    y, sr = librosa.load(path, sr=22050, duration=30.0)
    y = np.pad(y, (0, max(0, 22050 * 30 - len(y))))[:22050 * 30]
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=128, hop_length=512), ref=np.max)
    mel = (mel - mel.min()) / (mel.max() - mel.min() + 1e-8)
    with torch.no_grad():
        x = torch.from_numpy(mel[:, :1292]).float()[None]
        return torch.softmax(model(x), dim=-1)


def a_30s_file(folder: str) -> str:
    import soundfile as sf

    from muzo_lib.synth import render_track
    path = os.path.join(folder, "clip30.wav")
    sf.write(path, render_track("rock", "punk", seed=1, duration=30.0), 22050)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="a 30 s audio file (default: a generated 30 s rock track)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()}, "
          f"load average {os.getloadavg()[0]:.1f}")

    print("\n== Training throughput, default pooled-head CNN "
          f"({count_parameters(SpectrogramCNN(CNNConfig(n_classes=10))):,} parameters), 3 s x 128 mels, batch 32")
    fp32 = training_throughput(None, False, args.repeats)
    print(f"  float32                       : {fp32:7.1f} crops/s")
    if cpu_has_native_bf16():
        bf16 = training_throughput(torch.bfloat16, True, args.repeats)
        print(f"  bf16 autocast + channels_last : {bf16:7.1f} crops/s   ({bf16 / fp32:.2f}x float32; target >= 100)")
    else:
        print("  bf16 autocast: skipped (this CPU has no native bf16; the engine uses float32 here)")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or a_30s_file(tmp)
        print(f"\n== Predicting one 30 s file end to end ({Path(path).name})")
        classifier = CNNMusicClassifier(verbose=False)
        classifier.model = SpectrogramCNN(CNNConfig(n_classes=10)).eval()
        classifier.classes_ = [f"genre{i}" for i in range(10)]
        ours = median_time(lambda: classifier.predict(path), args.repeats)

        seed_model = SpectrogramCNN(CNNConfig(n_classes=10, head="flatten", input_frames=1292)).eval()
        seed_pipeline(seed_model, path)
        seed = median_time(lambda: seed_pipeline(seed_model, path), max(5, args.repeats // 2))
        print(f"  muzo (decode + log-mel + {classifier.predict(path)['predictions']['segments']} segments, "
              f"pooled CNN {count_parameters(classifier.model):,} params): {1000 * ours:7.1f} ms   (target <= 50)")
        print(f"  seed (librosa + Flatten CNN {count_parameters(seed_model):,} params on 30 s):      "
              f"{1000 * seed:7.1f} ms")
        print(f"  ratio: muzo is {seed / ours:.1f}x faster")


if __name__ == "__main__":
    main()
