"""Network speed on this machine, printed side by side with the machine's own peak.

1. The machine's peak: a large float32 matmul (and a bf16 one where the CPU has native bf16),
   GFLOP/s, on every thread torch uses. Achieved rates below are read against it.
2. Training throughput of the default pooled-head SpectrogramCNN (the seed's 32-64-128-256
   widths) through the engine, :func:`muzo_lib.training.loop.fit` itself (crops, augmentation,
   forward, backward, AdamW, validation excluded from the rate as in its log), on
   3 s crops of the course's input (64 mel bands) and of the research input (128), in
   float32 contiguous, float32 channels_last (the engine's CPU default) and, where native,
   bf16 autocast + channels_last: crops/s and achieved GFLOP/s (forward + backward counted
   by ``torch.utils.flop_counter``). One row puts the ReLU back before the pooling (the
   seed's order, the same function) to show what the library's order saves.
3. Inference throughput (what validation and prediction run): segments/s and GFLOP/s.
4. Prediction of one 30 s file end to end (decode + log-mel + all 3 s segments in one batch):
   ``CNNMusicClassifier.predict`` vs the seed's pipeline (librosa load + melspectrogram +
   power_to_db, then the seed's 84 M-parameter Flatten network on the full 30 s).

Timings are medians over repeats after warm-up (librosa's first-call JIT is excluded); a fit
rate is the median of ``--fit-repeats`` runs, the modes taken in turn. Emulate an AVX2-only
CPU on a newer one with ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``.

    .venv/bin/python benchmarks/bench_cnn.py [--file clip.wav] [--repeats 7] [--crops 576] [--fit-repeats 3]
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

from muzo_lib.course.classifiers import CNNMusicClassifier  # noqa: E402
from muzo_lib.course.members import COURSE_MEL  # noqa: E402
from muzo_lib.features.spectrogram import MelConfig  # noqa: E402
from muzo_lib.io.timing import measure_latency  # noqa: E402
from muzo_lib.models.devices import cpu_has_native_bf16  # noqa: E402
from muzo_lib.models.networks import CNNConfig, SpectrogramCNN, count_parameters  # noqa: E402
from muzo_lib.training.loop import TrackSet, TrainConfig, fit, predict_segments  # noqa: E402


def median_time(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds per call (muzo_lib's latency helper, in seconds)."""
    return measure_latency(fn, repeats, warmup)["median_ms"] / 1000


def matmul_peak(dtype: torch.dtype, repeats: int, n: int = 2048) -> float:
    """GFLOP/s of an ``n x n`` matmul: the machine's practical peak for dense float math."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n ** 3 / median_time(lambda: a @ b, repeats) / 1e9


def flops_per_crop(n_mels: int, frames: int, training: bool) -> float:
    """Floating-point operations of one crop through the network (forward, + backward if training)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = SpectrogramCNN(CNNConfig(n_classes=10, n_mels=n_mels)).train(training)
    x = torch.randn(4, n_mels, frames)
    with FlopCounterMode(display=False) as counter:
        if training:
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)
    return counter.get_total_flops() / 4


def toy_tracks(n_mels: int, n_tracks: int, seconds: float, seed: int) -> TrackSet:
    mel = MelConfig(n_mels=n_mels)
    rng = np.random.default_rng(seed)
    logmels = [(rng.standard_normal((n_mels, mel.frames(seconds))) * 10 - 40).astype(np.float16)
               for _ in range(n_tracks)]
    return TrackSet(logmels, np.arange(n_tracks) % 6, [f"t{i}" for i in range(n_tracks)])


def relu_before_pool(model: torch.nn.Module) -> torch.nn.Module:
    """The seed's block order (Conv, BN, ReLU, MaxPool): the same function as the library's
    (Conv, BN, MaxPool, ReLU), kept to time what the swap saves."""
    for block in model.modules():
        kinds = [type(m) for m in block.children()] if isinstance(block, torch.nn.Sequential) else []
        if kinds[-2:] == [torch.nn.MaxPool2d, torch.nn.ReLU]:
            block[-2], block[-1] = block[-1], block[-2]
    return model


def network(n_mels: int, seed_order: bool) -> SpectrogramCNN:
    torch.manual_seed(0)
    model = SpectrogramCNN(CNNConfig(n_classes=6, n_mels=n_mels))
    return relu_before_pool(model) if seed_order else model


def engine_throughput(n_mels: int, precision, channels_last: bool, crops: int, seed_order: bool = False) -> float:
    """Training crops/s as :func:`fit` reports them (its own clock, validation excluded)."""
    train = toy_tracks(n_mels, 48, 10.0, 0)
    valid = toy_tracks(n_mels, 6, 3.0, 1)
    cfg = TrainConfig(epochs=2, crops_per_track=max(1, crops // 48), mixed_precision=precision,
                      channels_last=channels_last, progress=False, verbose=False, device="cpu")
    model = network(n_mels, seed_order)
    return fit(model, train, valid, [str(i) for i in range(6)], MelConfig(n_mels=n_mels), cfg).segments_per_second


def inference_throughput(n_mels: int, precision, channels_last: bool, repeats: int, segments: int = 192,
                         seed_order: bool = False) -> float:
    mel = MelConfig(n_mels=n_mels)
    frames = mel.frames(3.0)
    model = network(n_mels, seed_order)
    logmels = [np.zeros((n_mels, frames * 3), np.float16) for _ in range(segments // 3)]
    run = lambda: predict_segments(model, logmels, frames, "cpu", precision=precision,  # noqa: E731
                                   channels_last=channels_last)
    return segments / median_time(run, repeats)


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

    from muzo_lib.data.synth import render_track
    path = os.path.join(folder, "clip30.wav")
    sf.write(path, render_track("rock", "punk", seed=1, duration=30.0), 22050)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="a 30 s audio file (default: a generated 30 s rock track)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--crops", type=int, default=576, help="training crops per epoch of the fit runs")
    parser.add_argument("--fit-repeats", type=int, default=3, help="fit runs per mode, interleaved (median)")
    args = parser.parse_args()
    bf16 = cpu_has_native_bf16()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {bf16}, "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')}, load average {os.getloadavg()[0]:.1f}")

    peak32 = matmul_peak(torch.float32, args.repeats)
    peaks = {"float32": peak32}
    line = f"\n== Peak (2048 x 2048 matmul): float32 {peak32:6.1f} GFLOP/s"
    if bf16:
        peaks["bf16"] = matmul_peak(torch.bfloat16, args.repeats)
        line += f", bf16 {peaks['bf16']:6.1f} GFLOP/s"
    print(line)

    modes = [("float32, contiguous", False, False, False, "float32"),
             ("float32, cl, ReLU before pool", False, True, True, "float32"),
             ("float32, channels_last (cl)", False, True, False, "float32")]
    if bf16:
        modes.append(("bf16 autocast, cl", True, True, False, "bf16"))
    for n_mels, label in ((COURSE_MEL.n_mels, "course input"), (128, "research input (the seed's)")):
        frames = MelConfig(n_mels=n_mels).frames(3.0)
        train_flops, infer_flops = flops_per_crop(n_mels, frames, True), flops_per_crop(n_mels, frames, False)
        print(f"\n== Default CNN ({count_parameters(SpectrogramCNN(CNNConfig(n_classes=6, n_mels=n_mels))):,} "
              f"parameters), {label}: 3 s x {n_mels} mels = {frames} frames; {infer_flops / 1e9:.2f} GFLOP forward, "
              f"{train_flops / 1e9:.2f} GFLOP forward + backward per crop")
        print(f"  {'':30s} {'train crops/s':>14s} {'GFLOP/s':>8s} {'% peak':>7s}   {'infer seg/s':>12s} {'GFLOP/s':>8s}")
        trains = {name: [] for name, *_ in modes}
        for _ in range(args.fit_repeats):                    # modes interleaved: drift hits them alike
            for name, amp, cl, seed_order, _ in modes:
                trains[name].append(engine_throughput(n_mels, amp, cl, args.crops, seed_order))
        for name, amp, cl, seed_order, peak in modes:
            train = float(np.median(trains[name]))
            infer = inference_throughput(n_mels, amp, cl, args.repeats, seed_order=seed_order)
            rate = train * train_flops / 1e9
            print(f"  {name:30s} {train:14.1f} {rate:8.1f} {100 * rate / peaks[peak]:6.0f}%   "
                  f"{infer:12.1f} {infer * infer_flops / 1e9:8.1f}")
    if not bf16:
        print("  bf16 autocast: skipped (this CPU has no native bf16, or PyTorch is held below it; "
              "the engine trains in float32 here)")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or a_30s_file(tmp)
        print(f"\n== Predicting one 30 s file end to end ({Path(path).name})")
        classifier = CNNMusicClassifier(verbose=False)
        classifier.model = SpectrogramCNN(CNNConfig(n_classes=10, n_mels=COURSE_MEL.n_mels)).eval()
        classifier.mel_config = COURSE_MEL
        classifier.classes_ = [f"genre{i}" for i in range(10)]
        start = time.perf_counter()
        ours = median_time(lambda: classifier.predict(path), args.repeats)
        seed_model = SpectrogramCNN(CNNConfig(n_classes=10, head="flatten", input_frames=1292)).eval()
        seed_pipeline(seed_model, path)
        seed = median_time(lambda: seed_pipeline(seed_model, path), max(5, args.repeats // 2))
        import soundfile as sf
        segments = int(sf.info(path).duration // classifier.segment_seconds)
        print(f"  muzo (decode + log-mel + {segments} segments, "
              f"pooled CNN {count_parameters(classifier.model):,} params): {1000 * ours:7.1f} ms")
        print(f"  seed (librosa + Flatten CNN {count_parameters(seed_model):,} params on 30 s):      "
              f"{1000 * seed:7.1f} ms")
        print(f"  ratio: muzo is {seed / ours:.1f}x faster (this section ran {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
