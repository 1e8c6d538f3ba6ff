"""Peak memory (RSS) of predicting and scanning one long file, on every path.

    python benchmarks/bench_memory.py [--minutes 60] [--workdir DIR] [--paths network rf scanner]

Writes a ``--minutes`` long 44.1 kHz stereo 16-bit WAV (a tone with noise) into
``--workdir`` (kept for later runs), a network checkpoint (default CNN, random weights:
memory does not depend on training) and a small Random Forest, then runs each path in
a fresh process and reports that process's peak RSS (``getrusage``), next to the peak of
the same process after imports only:

- ``network``: ``predict_files(load_model("cnn.pt"), [long.wav])``
- ``rf``: ``predict_files(load_model("rf.skops"), [long.wav])``
- ``scanner``: ``scan_dataset`` of a dataset holding the long file and one short file;
- not by default: ``network-whole`` (``max_seconds=None``: every segment of the file) and
  ``network-over-time`` (``genre_over_time``, 10 s windows over the whole file).

``MUZO_IMPORT_FROM`` (a folder holding a ``muzo_lib``) measures another checkout, e.g.
the code before a change, with the same files.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, warnings
warnings.simplefilter("ignore")
from muzo_lib.data.datasets import scan_dataset
from muzo_lib.inference.prediction import load_model, predict_files
import muzo_lib, torch, librosa  # what every path has loaded anyway
path, work = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if path == "scanner":
    m = scan_dataset(work + "/dataset")
    detail = {"ok": int((m.status == "ok").sum()), "reasons": sorted(set(m.reason) - {""})}
elif path == "network-over-time":
    from muzo_lib.inference.prediction import genre_over_time
    frame = genre_over_time(load_model(work + "/cnn.pt", device="cpu"), work + "/dataset/a/long.wav", 10.0, 10.0)
    detail = {"windows": len(frame)}
else:
    model = load_model(work + ("/cnn.pt" if path.startswith("network") else "/rf.skops"), device="cpu")
    cap = {"max_seconds": None} if path.endswith("-whole") else {}
    r = predict_files(model, [work + "/dataset/a/long.wav"], progress=False, **cap)[0]
    r = r if isinstance(r, dict) else r.to_dict()  # older checkouts (MUZO_IMPORT_FROM) return dicts
    detail = {"genre": r["genre"], "seconds": r["seconds"], "error": r["error"]}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"path": path, "muzo_lib": muzo_lib.__file__, "after_imports_mb": round(base),
                  "peak_mb": round(peak), **detail}))
"""


def make_files(work: Path, minutes: float) -> None:
    import soundfile as sf

    sys.path.insert(0, str(REPO))
    from tests.helpers import tone

    long = work / "dataset" / "a" / "long.wav"
    if not long.exists() or abs(sf.info(str(long)).duration - 60 * minutes) > 1:
        long.parent.mkdir(parents=True, exist_ok=True)
        block = tone(10.0, sr=44100, channels=2)
        with sf.SoundFile(str(long), "w", 44100, 2, subtype="PCM_16") as f:
            for _ in range(int(6 * minutes)):
                f.write(block)
        (work / "dataset" / "b").mkdir(exist_ok=True)
        sf.write(str(work / "dataset" / "b" / "short.wav"), tone(30.0), 22050)
    if not (work / "cnn.pt").exists() or not (work / "rf.skops").exists():
        import pandas as pd
        import torch

        from muzo_lib.features.handmade import AudioFeatureExtractor
        from muzo_lib.features.spectrogram import MelConfig
        from muzo_lib.models.forest import MusicGenreClassifier
        from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
        from muzo_lib.training.checkpoints import save_checkpoint

        torch.manual_seed(0)
        save_checkpoint(work / "cnn.pt", SpectrogramCNN(CNNConfig(n_classes=2)).eval(), MelConfig(), ["a", "b"], 3.0)
        fx = AudioFeatureExtractor()
        rows = [fx.extract_all_features(tone(3.0, freq=f, seed=i), 22050) for i, f in enumerate([200, 300, 400, 500])]
        MusicGenreClassifier(n_estimators=10, random_state=0, n_jobs=1).fit(pd.DataFrame(rows), ["a", "b"] * 2) \
            .save_model(work / "rf.skops")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--workdir", default="/tmp/muzo-bench-memory")
    parser.add_argument("--paths", nargs="+", default=["network", "rf", "scanner"])
    args = parser.parse_args()
    work = Path(args.workdir)
    make_files(work, args.minutes)
    env = dict(os.environ, PYTHONPATH=os.environ.get("MUZO_IMPORT_FROM", str(REPO)))
    for path in args.paths:
        done = subprocess.run([sys.executable, "-c", CHILD, path, str(work)], capture_output=True, text=True, env=env,
                              cwd=work)  # not the repository: "-c" puts the current folder first on sys.path
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["killed"])[-1]
            print(json.dumps({"path": path, "failed": tail[:200], "returncode": done.returncode}))
        else:
            print(done.stdout.strip())
        sys.stdout.flush()


if __name__ == "__main__":
    main()
