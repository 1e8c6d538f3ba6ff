"""One stage of the course pipeline in this process, for benchmarks/scale.py.

    python benchmarks/scale_stages.py STAGE DATA_DIR RUN_DIR [--epochs 1]
    torchrun --standalone --nproc-per-node 2 benchmarks/scale_stages.py logmels DATA_DIR RUN_DIR   # one line per rank

Each stage is run in a fresh process so its wall time and its peak resident memory are its own:
the process imports what every stage needs (torch, librosa, the library), records its peak RSS
after those imports (the baseline), then runs the stage (the library calls the notebooks make)
and prints one JSON line: ``wall_s`` (the stage's work, after imports), ``after_imports_mb``,
``peak_mb`` (this process's ``ru_maxrss``), ``workers_peak_mb`` (the largest worker process that
joblib started for it, 0 without one: worker memory is not in ``ru_maxrss``) and the stage's own
facts (tracks, accuracy, what it holds in memory).

Stages read what the previous ones left in RUN_DIR (the manifest, the caches, the models), as
the notebooks do: scan -> logmels -> features -> rf -> cnn -> hybrid -> musicnn -> ensemble.

What each stage holds in memory at its peak (none holds decoded audio of more than the few
tracks its threads or workers are decoding at that moment, nor every track's log-mels or embeddings):

- ``scan``: the manifest (one row per file); each file is decoded once to check it, then freed.
- ``logmels``: the cache is filled (``run.logmels``: ``LogMelCache.check``), a few tracks in flight;
  no array is kept.
- ``features``: the descriptor table (~90 floats per track).
- ``rf``: the table and the forest (200 trees).
- ``cnn`` / ``hybrid``: the network, one batch of crops, and the log-mels read back from the cache
  as they are used, the most recent up to ``muzo_lib.data.runs.LOGMEL_MEMORY_MB`` (256 MB; 64 mels
  x 43 frames/s in float16 is ~5.5 kB per second of audio, so 1,600 tracks of 30 s fill it).
- ``musicnn``: a few decoded tracks ahead of the network, then one track's per-patch embeddings at a
  time, reduced to its vector (200 floats per track).
- ``ensemble``: the members (loaded from the run), each split's probabilities, and the log-mels as
  for the networks.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 0
#: the pipeline's stages, in the order the notebooks run them
STAGES = ("scan", "logmels", "features", "rf", "cnn", "hybrid", "musicnn", "ensemble")


def peak_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports ``ru_maxrss`` in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def largest_worker_mb() -> float:
    """Peak RSS of the largest worker process this one started and reaped, MB (0 if none).

    joblib keeps its process pool (loky) alive for reuse; it is shut down first, so that its
    workers are waited for and counted.
    """
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def load_run(data_dir: str, run_dir: str):
    """The run the scan stage left (reading its manifest and split; rescans only if the data changed)."""
    from muzo_lib.data.runs import prepare_run

    return prepare_run(data_dir, run_dir, seed=SEED)


def test_accuracy(out: dict) -> float | None:
    """:func:`~muzo_lib.course.members.train_member`'s test accuracy, percent (None without a test split)."""
    return round(out["test"]["accuracy"], 1) if out.get("test") else None


# ---------------------------------------------------------------- the stages

def scan(data_dir: str, run_dir: str, epochs: int) -> dict:
    run = load_run(data_dir, run_dir)
    sides = run.tracks.split.value_counts()
    return {"tracks": len(run.tracks), "skipped": int((run.manifest.status != "ok").sum()),
            "split": {side: int(sides.get(side, 0)) for side in ("train", "valid", "test")},
            "split_strategy": run.split_info.strategy}


def logmels(data_dir: str, run_dir: str, epochs: int) -> dict:
    from muzo_lib.course.members import COURSE_MEL

    arrays = load_run(data_dir, run_dir).logmels(COURSE_MEL, progress=False)
    return {"tracks": len(arrays), "held_mb": round(arrays.held_bytes / 2**20, 1)}


def features(data_dir: str, run_dir: str, epochs: int) -> dict:
    from muzo_lib.features.handmade import AudioFeatureExtractor, run_features

    table, errors = run_features(load_run(data_dir, run_dir), AudioFeatureExtractor(), progress=False)
    return {"tracks": len(table), "columns": table.shape[1], "errors": len(errors)}


def rf(data_dir: str, run_dir: str, epochs: int) -> dict:
    from muzo_lib.course.members import train_member

    out = train_member(load_run(data_dir, run_dir), "rf", seed=SEED, progress=False)
    return {"test_accuracy": test_accuracy(out), "fit_s": round(out["training_time"], 2)}


def _network(architecture: str, data_dir: str, run_dir: str, epochs: int) -> dict:
    from muzo_lib.course.members import COURSE_MEL, course_train_config, train_member
    from muzo_lib.data.runs import LOGMEL_MEMORY_MB

    config = course_train_config(epochs=epochs, seed=SEED, progress=False, verbose=False)
    out = train_member(load_run(data_dir, run_dir), architecture, seed=SEED, train_config=config,
                       mel_config=COURSE_MEL, progress=False)
    return {"test_accuracy": test_accuracy(out), "epochs": out["epochs_trained"],
            "s_per_epoch": round(out["seconds_per_epoch"], 2), "logmel_memory_mb": LOGMEL_MEMORY_MB}


def cnn(data_dir: str, run_dir: str, epochs: int) -> dict:
    return _network("cnn", data_dir, run_dir, epochs)


def hybrid(data_dir: str, run_dir: str, epochs: int) -> dict:
    return _network("hybrid", data_dir, run_dir, epochs)


def musicnn(data_dir: str, run_dir: str, epochs: int) -> dict:
    """The frozen musicnn's embeddings of every track (cold cache) and the logistic regression on them."""
    from muzo_lib.data.runs import load_metrics
    from muzo_lib.models.pretrained.classifier import train_embedding_model
    from muzo_lib.models.pretrained.embeddings import EmbeddingConfig

    run = load_run(data_dir, run_dir)
    out = train_embedding_model(run, "musicnn", EmbeddingConfig(), seed=SEED, progress=False)
    metrics = load_metrics(run_dir)["musicnn"]
    return {"test_accuracy": round(out["test"]["accuracy"], 1), "embedding_s": round(metrics["embedding_time_s"], 2),
            "fit_s": round(metrics["training_time_s"], 2)}


def ensemble(data_dir: str, run_dir: str, epochs: int) -> dict:
    """The members the earlier stages left, fused on the validation split, scored on test (notebook 07)."""
    import numpy as np

    from muzo_lib.course.members import course_model_path, member_probabilities
    from muzo_lib.inference import ensemble as fusion
    from muzo_lib.inference.prediction import load_model

    run = load_run(data_dir, run_dir)
    paths = {kind: course_model_path(run, kind) for kind in ("cnn", "hybrid", "rf", "musicnn")}
    members = {kind: load_model(path, device="cpu") for kind, path in paths.items() if path.is_file()}
    valid, test = member_probabilities(run, members, "valid"), member_probabilities(run, members, "test")
    fusions = fusion.fit_fusions(valid, run.labels("valid"), seed=SEED)
    y_test = run.labels("test")
    scores = {name: round(100 * float(np.mean(f.predict(test) == y_test)), 1) for name, f in fusions.items()}
    return {"members": sorted(members), "test_tracks": len(y_test), "test_accuracy": scores}


# ---------------------------------------------------------------- one process

def measure(stage: str, data_dir: str, run_dir: str, epochs: int) -> dict:
    """Run ``stage`` here after the common imports; its figures as a dict."""
    warnings.simplefilter("ignore")
    import librosa.feature  # noqa: F401  (every stage's process holds the same libraries before it starts)
    import torch  # noqa: F401

    import muzo_lib.course.members  # noqa: F401
    import muzo_lib.data.runs  # noqa: F401
    baseline = peak_mb()
    start = time.perf_counter()
    facts = globals()[stage](data_dir, run_dir, epochs)
    wall = time.perf_counter() - start
    return {"stage": stage, "wall_s": round(wall, 3), "after_imports_mb": round(baseline, 1),
            "peak_mb": round(peak_mb(), 1), "workers_peak_mb": round(largest_worker_mb(), 1), **facts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("data_dir")
    parser.add_argument("run_dir")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--figures-dir", default=None, help="also write this rank's figures to <dir>/rank<r>.json")
    args = parser.parse_args(argv)
    from muzo_lib.training import distributed

    world = distributed.init_distributed("cpu")       # under torchrun: one rank of a gloo group; alone: nothing
    try:
        figures = measure(args.stage, args.data_dir, args.run_dir, args.epochs)
    finally:
        distributed.shutdown()
    line = json.dumps({**figures, "rank": world.rank, "world_size": world.world_size})
    if args.figures_dir:                    # ranks share one stdout under torchrun: their lines can interleave
        Path(args.figures_dir, f"rank{world.rank}.json").write_text(line + "\n")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
