"""Streaming cost (real-time factor) and the ONNX path vs the PyTorch one, side by side.

    python benchmarks/bench_stream.py [--files N] [--repeats R] [--stream-seconds S]

1. Front end for the ONNX path, one log-mel of 30 s and of 3 s: numpy (what Muzo uses) vs
   an onnxruntime graph with the ONNX STFT operator, in a child process without torch (torch's
   idle worker threads would slow numpy down), then the torch module here.
2. ``StreamingClassifier`` on a generated mix pushed in 0.1 s chunks at 44.1 kHz (resampled
   to 22050 Hz), 3 s window, 1 s hop, for the CNN and the hybrid, through torch (.pt) and
   onnxruntime (.onnx), one thread each as ``muzo listen`` runs them: compute per update
   (median, 95th percentile; target <= 50 ms = 5% of the hop) and the real-time factor
   (wall time of all pushes / audio time).
3. ``muzo predict`` on 30 s files, .pt vs .onnx: one file warm in-process, one file as a
   whole process (``python -m muzo_lib.cli predict FILE --model M --json``), a folder (files/s),
   and the largest probability difference between the two (torch in float32).

Networks have random weights (speed does not depend on training). Each timing is a median of R
runs; the load average is printed, as other processes on the machine disturb the figures.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from muzo_lib.data import synth  # noqa: E402
from muzo_lib.features.numpy_frontend import NumpyLogMel  # noqa: E402
from muzo_lib.inference.prediction import NetworkPredictor, load_model, measure_latency, predict_files  # noqa: E402
from muzo_lib.inference.streaming import StreamingClassifier, limit_threads  # noqa: E402

SR, N_CLASSES = 22050, 10


def stft_graph(front: NumpyLogMel):
    """An onnxruntime session computing the mel power spectrogram with the ONNX STFT operator."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("STFT", ["signal", "step", "window", "length"], ["spectrum"], onesided=1),
             helper.make_node("Mul", ["spectrum", "spectrum"], ["squares"]),
             helper.make_node("ReduceSum", ["squares", "last"], ["power"], keepdims=0),
             helper.make_node("MatMul", ["power", "filters"], ["mel"])]
    constants = [numpy_helper.from_array(np.array(front.hop_length, np.int64), "step"),
                 numpy_helper.from_array(front.window, "window"),
                 numpy_helper.from_array(np.array(front.n_fft, np.int64), "length"),
                 numpy_helper.from_array(np.array([-1], np.int64), "last"),
                 numpy_helper.from_array(front.filters_t, "filters")]
    graph = helper.make_graph(nodes, "stft_mel", [helper.make_tensor_value_info("signal", TensorProto.FLOAT, [1, None, 1])],
                              [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, None, front.n_mels])], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")   # as OnnxPredictor runs
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    half = front.n_fft // 2
    return lambda y: session.run(None, {"signal": np.pad(y, (half, half))[None, :, None]})[0]


def front_end_times(repeats: int, with_torch: bool) -> dict:
    """Median ms of one log-mel of 30 s and of 3 s: numpy and ONNX STFT, or the torch module."""
    out = {}
    for seconds in (30, 3):
        y = synth.render_track("rock", "punk", seed=seconds, duration=seconds)
        if with_torch:
            import torch

            from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig

            front = LogMelSpectrogram(MelConfig())
            with torch.inference_mode():
                out[f"torch {seconds}"] = measure_latency(lambda: front(torch.from_numpy(y)), repeats=repeats * 4)["median_ms"]
        else:
            numpy_front = NumpyLogMel()
            onnx_stft = stft_graph(numpy_front)
            out[f"numpy {seconds}"] = measure_latency(lambda: numpy_front(y), repeats=repeats * 4)["median_ms"]
            out[f"onnx {seconds}"] = measure_latency(lambda: onnx_stft(y), repeats=repeats * 4)["median_ms"]
    return out


def bench_front_end(repeats: int):
    import json

    child = subprocess.run([sys.executable, __file__, "--front-end-child", "--repeats", str(repeats)],
                           capture_output=True, text=True, check=True)
    times = json.loads(child.stdout) | front_end_times(repeats, with_torch=True)
    print("\n1. log-mel front end (ms, median; numpy and ONNX STFT in a process without torch)")
    print(f"{'clip':8s} {'numpy':>8s} {'ONNX STFT':>10s} {'torch':>8s}   (ONNX STFT: mel power only, no dB)")
    for seconds in (30, 3):
        print(f"{seconds:4d} s   {times[f'numpy {seconds}']:8.2f} {times[f'onnx {seconds}']:10.2f} "
              f"{times[f'torch {seconds}']:8.2f}")


def generated_mix(seconds: float) -> np.ndarray:
    styles = [(g, sorted(subs)[0]) for g, subs in synth.GENRES.items()]
    parts, total, i = [], 0.0, 0
    while total < seconds:
        genre, sub = styles[i % len(styles)]
        parts.append(synth.render_track(genre, sub, seed=100 + i, duration=min(10.0, seconds - total)))
        total, i = total + len(parts[-1]) / SR, i + 1
    return np.concatenate(parts)


def bench_stream(models: dict, seconds: float) -> None:
    import soxr

    mix = soxr.resample(generated_mix(seconds), SR, 44100).astype(np.float32)
    chunk = 4410
    print(f"\n2. streaming {seconds:.0f} s pushed in 0.1 s chunks at 44.1 kHz, window 3 s, hop 1 s (ms per update)")
    print(f"{'model':18s} {'updates':>8s} {'median':>8s} {'p95':>8s} {'max':>8s} {'real-time factor':>17s}   target <= 50 ms")
    for name, model in models.items():
        limit_threads(model, 1)
        stream = StreamingClassifier(model, input_rate=44100, window_seconds=3.0, hop_seconds=1.0)
        stream.push(mix[:44100 * 4])                    # warm-up: thread pools, first-call set-up
        stream.reset()
        start = time.perf_counter()
        updates = [u for s in range(0, len(mix), chunk) for u in stream.push(mix[s:s + chunk])]
        wall = time.perf_counter() - start
        ms = np.array([u["compute_ms"] for u in updates])
        print(f"{name:18s} {len(updates):8d} {np.median(ms):8.1f} {np.percentile(ms, 95):8.1f} {ms.max():8.1f} "
              f"{wall / (len(mix) / 44100):17.4f}")
        limit_threads(model, None if name.endswith("onnx") else os.cpu_count())


def process_ms(argvs: list[list[str]], repeats: int) -> list[float]:
    """Median wall time (ms) of each whole process; the commands alternate, so a change of
    machine load falls on both alike."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in argvs:
        subprocess.run(argv, check=True, capture_output=True, env=env)      # OS file cache warm
    times = [[] for _ in argvs]
    for _ in range(repeats):
        for argv, t in zip(argvs, times):
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, env=env)
            t.append(1000 * (time.perf_counter() - start))
    return [float(np.median(t)) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16, help="30 s files in the folder (default 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (default 5)")
    parser.add_argument("--stream-seconds", type=float, default=60.0, help="length of the streamed mix (default 60)")
    parser.add_argument("--front-end-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.front_end_child:
        import json

        print(json.dumps(front_end_times(args.repeats, with_torch=False)))
        return
    import onnxruntime
    import torch

    from muzo_lib.features.spectrogram import MelConfig
    from muzo_lib.inference.export import export_onnx
    from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
    from muzo_lib.training.checkpoints import save_checkpoint

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}, "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    bench_front_end(args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        classes = [f"genre{i}" for i in range(N_CLASSES)]
        paths, models = {}, {}
        for kind, net in (("cnn", SpectrogramCNN(CNNConfig(n_classes=N_CLASSES))),
                          ("hybrid", HybridCNNRNN(HybridConfig(n_classes=N_CLASSES)))):
            torch.manual_seed(0)
            pt = save_checkpoint(tmp / f"{kind}.pt", net.eval(), MelConfig(), classes, segment_seconds=3.0)
            paths[kind] = (pt, export_onnx(pt, tmp / f"{kind}.onnx"))
            models[f"{kind} torch"] = load_model(pt, device="cpu")
            models[f"{kind} onnx"] = load_model(paths[kind][1])
        bench_stream(models, args.stream_seconds)

        files = []
        for i in range(args.files):
            genre = list(synth.GENRES)[i % len(synth.GENRES)]
            files.append(tmp / f"{genre}_{i:02d}.wav")
            sf.write(files[-1], synth.render_track(genre, sorted(synth.GENRES[genre])[0], seed=i, duration=30.0), SR,
                     subtype="PCM_16")
        print(f"\n3. muzo predict, 30 s files: PyTorch (.pt, precision {models['cnn torch'].precision!r}) vs "
              "onnxruntime (.onnx), side by side")
        print(f"{'model':8s} {'measurement':30s} {'torch':>9s} {'onnx':>9s} {'ratio':>7s}")
        for kind, (pt, onnx_path) in paths.items():
            pt_model, onnx_model = models[f"{kind} torch"], models[f"{kind} onnx"]
            warm = [measure_latency(lambda: predict_files(m, files[:1], progress=False), repeats=args.repeats)["median_ms"]
                    for m in (pt_model, onnx_model)]
            proc = process_ms([[sys.executable, "-m", "muzo_lib.cli", "predict", str(files[0]), "--model", str(p), "--json"]
                               for p in (pt, onnx_path)], args.repeats)
            folder = [len(files) / (measure_latency(lambda: predict_files(m, files, progress=False), repeats=2,
                                                    warmup=1)["median_ms"] / 1000) for m in (pt_model, onnx_model)]
            float32 = NetworkPredictor(pt_model.checkpoint, device="cpu", precision=False)
            clips = [sf.read(f, dtype="float32")[0] for f in files]
            parity = np.abs(float32.predict_waveforms(clips) - onnx_model.predict_waveforms(clips)).max()
            for name, (a, b), better in (("one file, warm call (ms)", warm, "lower"),
                                         ("one file, whole process (ms)", proc, "lower"),
                                         (f"folder of {len(files)} (files/s)", folder, "higher")):
                ratio = a / b if better == "lower" else b / a
                print(f"{kind:8s} {name:30s} {a:9.1f} {b:9.1f} {ratio:6.2f}x")
            print(f"{kind:8s} {'max |p_onnx - p_torch float32|':30s} {parity:9.2e}   (target <= 1e-4)")
    print(f"\nload average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
