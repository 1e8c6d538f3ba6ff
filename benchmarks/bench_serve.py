"""`muzo serve` under load on loopback: the ONNX and the PyTorch model, beside in-process prediction.

    python benchmarks/bench_serve.py [--clients 8] [--seconds 30] [--single 20] [--files 4]

For each model (the course-size SpectrogramCNN with random weights, 10 genres, as a ``.pt`` and its
``.onnx`` export), a ``muzo serve`` process is started on a free 127.0.0.1 port with its default limits:

1. one client, one request at a time (``--single`` requests): p50 latency of one 30 s clip, with the
   genre over time (the default answer) and without it (``?timeline=false``), beside the same work in
   process: ``predict_files(model, [clip])`` and that plus :func:`genre_windows` (the timeline);
2. ``--clients`` concurrent clients posting 30 s clips for ``--seconds`` s (at most 5000 requests):
   requests/s, p50/p95/p99 latency, errors (any status but 200);
3. the server's resident memory (VmRSS) after start-up and warm-up, then after each of ``--phases`` equal
   parts of the load (flat memory: the later phases add next to nothing).

Speed does not depend on training, so the weights are random. The machine's load average is printed:
other processes disturb the figures. Targets on 2 cores: no errors at 8 clients, and one clip's p50 within
1.5x the in-process prediction time.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import httpx  # noqa: E402

from muzo_lib.data import synth  # noqa: E402
from muzo_lib.inference.prediction import genre_windows, load_model, model_window_seconds, predict_files  # noqa: E402
from muzo_lib.io.audio import load_audio  # noqa: E402
from muzo_lib.io.timing import measure_latency  # noqa: E402

SR, SECONDS, N_CLASSES, MAX_REQUESTS = 22050, 30.0, 10, 5000


def make_models(folder: Path) -> dict[str, Path]:
    import torch

    from muzo_lib.features.spectrogram import MelConfig
    from muzo_lib.inference.export import export_onnx
    from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
    from muzo_lib.training.checkpoints import save_checkpoint

    torch.manual_seed(0)
    pt = save_checkpoint(folder / "cnn.pt", SpectrogramCNN(CNNConfig(n_classes=N_CLASSES)).eval(), MelConfig(),
                         [f"genre{i}" for i in range(N_CLASSES)], segment_seconds=3.0)
    return {"onnx": export_onnx(pt, folder / "cnn.onnx"), "pt": pt}


def make_files(folder: Path, n: int) -> list[Path]:
    styles = [(g, s) for g, subs in synth.GENRES.items() for s in subs]
    paths = []
    for i in range(n):
        genre, sub = styles[i % len(styles)]
        path = folder / f"clip{i}.wav"
        sf.write(path, synth.render_track(genre, sub, seed=i, duration=SECONDS, sample_rate=SR), SR, subtype="PCM_16")
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: Path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "muzo_lib.cli", "serve", "--model", str(model), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    base, start = f"http://127.0.0.1:{port}", time.monotonic()
    while time.monotonic() - start < 60:
        if server.poll() is not None:
            raise SystemExit(f"muzo serve exited: {server.stderr.read()}")
        try:
            httpx.get(f"{base}/health", timeout=1)
            return server, base, time.monotonic() - start
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("muzo serve did not start in 60 s")


def post(client: httpx.Client, base: str, data: bytes, timeline: bool = True) -> tuple[int, float]:
    start = time.perf_counter()
    response = client.post(f"{base}/predict" + ("" if timeline else "?timeline=false"),
                           files={"file": ("clip.wav", data, "audio/wav")}, timeout=120)
    return response.status_code, 1000 * (time.perf_counter() - start)


def load(base: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    latencies, errors, lock, count = [], [], threading.Lock(), [0]
    stop = time.monotonic() + seconds

    def client(k: int):
        with httpx.Client() as c:
            i = k
            while time.monotonic() < stop:
                with lock:
                    if count[0] >= MAX_REQUESTS:
                        return
                    count[0] += 1
                try:
                    status, ms = post(c, base, bodies[i % len(bodies)])
                except httpx.HTTPError as exc:
                    status, ms = type(exc).__name__, float("nan")
                with lock:
                    (latencies if status == 200 else errors).append(ms if status == 200 else status)
                i += 1

    begin = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - begin
    return {"latencies": latencies, "errors": errors, "wall": wall}


def merge(*parts: dict) -> dict:
    """Requests/s, percentiles and errors over load phases run one after the other."""
    latencies = [ms for p in parts for ms in p["latencies"]]
    errors = [e for p in parts for e in p["errors"]]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if latencies else (np.nan,) * 3
    return {"requests": len(latencies) + len(errors), "rps": len(latencies) / sum(p["wall"] for p in parts),
            "p50": p50, "p95": p95, "p99": p99, "errors": len(errors), "error_kinds": sorted(set(map(str, errors)))}


def in_process(path: Path, clip: Path, repeats: int) -> tuple[float, float]:
    """Median ms of ``predict_files`` on one clip in this process, alone and with the timeline's windows."""
    model = load_model(path, device="cpu")
    window = model_window_seconds(model)
    alone = measure_latency(lambda: predict_files(model, [clip], progress=False), repeats=repeats)["median_ms"]
    both = measure_latency(lambda: (predict_files(model, [clip], progress=False),
                                    genre_windows(model, load_audio(clip, model.sample_rate), window, window)),
                           repeats=repeats)["median_ms"]
    return alone, both


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of load per model (default 30)")
    parser.add_argument("--single", type=int, default=20, help="one-at-a-time requests per model (default 20)")
    parser.add_argument("--files", type=int, default=4, help="different 30 s clips posted in turn (default 4)")
    parser.add_argument("--phases", type=int, default=2, help="load phases, the server's RSS read after each (default 2)")
    parser.add_argument("--models", nargs="+", choices=("onnx", "pt"), default=["onnx", "pt"], help="which (default both)")
    args = parser.parse_args()

    bf16 = "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    print(f"{os.cpu_count()} CPUs, {'native bf16 (avx512_bf16)' if bf16 else 'no avx512_bf16'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files, models = make_files(tmp, args.files), make_models(tmp)
        bodies = [f.read_bytes() for f in files]
        for kind, path in ((k, models[k]) for k in args.models):
            alone, with_timeline = in_process(path, files[0], args.single // 2 or 1)
            server, base, started = start_server(path)
            try:
                with httpx.Client() as c:
                    for _ in range(3):
                        assert post(c, base, bodies[0])[0] == 200, "warm-up request failed"
                    rss_before = rss_mb(server.pid)
                    single = [post(c, base, bodies[0])[1] for _ in range(args.single)]
                    bare = [post(c, base, bodies[0], timeline=False)[1] for _ in range(args.single)]
                phases, rss = [], [rss_before]
                for _ in range(args.phases):
                    phases.append(load(base, bodies, args.clients, args.seconds / args.phases))
                    rss.append(rss_mb(server.pid))
                result = merge(*phases)
            finally:
                server.terminate()
                server.wait(10)
            rows.append((kind, started, alone, with_timeline, float(np.median(single)), float(np.median(bare)), result, rss))

    print(f"\none 30 s clip, one client (p50 ms; in process: median of {args.single // 2 or 1})")
    print(f"{'model':6s} {'start s':>8s} {'in-proc':>8s} {'+timeline':>10s} {'server':>8s} {'no timeline':>12s} "
          f"{'server/in-proc':>15s}")
    for kind, started, alone, with_tl, single, bare, *_ in rows:
        print(f"{kind:6s} {started:8.2f} {alone:8.1f} {with_tl:10.1f} {single:8.1f} {bare:12.1f} "
              f"{bare / alone:6.2f}x / {single / with_tl:4.2f}x")
    print(f"\n{args.clients} concurrent clients, {args.seconds:g} s per model (30 s clips)")
    print(f"{'model':6s} {'requests':>9s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'errors':>7s} "
          f"  RSS MB: after warm-up, then after each of {args.phases} phases")
    for kind, *_, result, rss in rows:
        print(f"{kind:6s} {result['requests']:9d} {result['rps']:7.2f} {result['p50']:8.0f} {result['p95']:8.0f} "
              f"{result['p99']:8.0f} {result['errors']:7d}  {' -> '.join(f'{mb:.0f}' for mb in rss)}"
              + (f"  ({', '.join(result['error_kinds'])})" if result["errors"] else ""))
    print("\nserver/in-proc: without the timeline vs predict_files alone / with it vs predict_files + genre_windows")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
