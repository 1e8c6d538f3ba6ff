"""When do learned features win? The groove twins, with few and with many artists.

The generated dataset's groove twins (house / uk_garage, roots / rockers) share their band
and differ only in where the kick falls. This script generates those four subgenres alone,
splits them by artist (the course's split), and trains notebook 02's Random Forest and
notebook 03's CNN on the same training tracks, once per number of artists per subgenre.
The CNN trains with the library's defaults (those of ``muzo train``: learning-rate patience
5, early-stopping patience 10), or with the course's training settings
(:func:`~muzo_lib.course.members.course_train_config`: shorter patiences) given
``--course-patience``. It prints each model's test accuracy over the four subgenres with its
95% interval, and the CNN minus the forest as a paired bootstrap over the same tracks.

The course's dataset has 5 artists per subgenre (3 in training); notebook 06 shows what
that gives. A larger count asks whether the groove is learnable at all.

Usage:
    .venv/bin/python benchmarks/groove_twins.py [--artists 5 20] [--tracks-per-artist 4] [--seed 0]

About 7.5 minutes on 2 cores for the defaults (most of it the CNN on 20 artists, 30 epochs).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from muzo_lib.course.members import course_train_config, forest_leaf_probabilities, leaf_run, train_member, train_on_run
from muzo_lib.data.runs import prepare_run
from muzo_lib.data.synth import GROOVE_TWINS, generate_dataset
from muzo_lib.evaluation.metrics import format_score, metric_intervals, paired_difference
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.training.loop import TrainConfig


def compare(artists: int, tracks_per_artist: int, seed: int, folder: Path, config: TrainConfig) -> None:
    start = time.perf_counter()
    root = generate_dataset(folder / "data", tracks_per_subgenre=artists * tracks_per_artist,
                            artists_per_subgenre=artists, genres=list(GROOVE_TWINS), seed=seed)
    run = leaf_run(prepare_run(root, folder / "run", seed=seed))  # classes: genre/subgenre
    train = run.subset("train")
    print(f"\n{artists} artists per subgenre: {len(run.tracks)} tracks; {train.artist.nunique() // 4} training "
          f"artists per subgenre, {len(run.subset('test'))} test tracks by {run.subset('test').artist.nunique()} artists")
    mel = MelConfig()
    cnn = train_on_run(run, "cnn", "cnn", mel, config, seed=seed, save=False,
                       checkpoint_path=folder / "cnn.pt")
    names, y = cnn.test["names"], np.asarray(cnn.test["labels"])
    forest = train_member(run, "rf", path=folder / "rf.skops", seed=seed, progress=False)
    probs, leaves = forest_leaf_probabilities(run, forest["path"], names)
    by_name = {c: i for i, c in enumerate(run.classes)}
    predictions = {"Random Forest": np.array([by_name[leaves[i]] for i in probs.argmax(axis=1)]),
                   "CNN": np.asarray(cnn.test["predictions"])}
    for name, p in predictions.items():
        ci = metric_intervals(y, p, len(run.classes), seed=seed)["accuracy"]
        print(f"  {name:13s} {format_score(100 * np.mean(p == y), ci, len(y))}")
    d = paired_difference(y, predictions["CNN"], predictions["Random Forest"], seed=seed)
    verdict = "no detectable difference" if not d["detectable"] else \
        ("the CNN is detectably better" if d["difference"] > 0 else "the forest is detectably better")
    print(f"  CNN minus forest: {d['difference']:+.1f} points [{d['low']:+.1f}, {d['high']:+.1f}] "
          f"(paired bootstrap): {verdict}; chance is 25%, a coin toss between twins 50%")
    print(f"  ({time.perf_counter() - start:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artists", type=int, nargs="+", default=[5, 20], help="artists per subgenre, one run each")
    parser.add_argument("--tracks-per-artist", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--course-patience", action="store_true", help="train with the course's training settings (shorter patiences)")
    args = parser.parse_args()
    config = course_train_config(progress=False) if args.course_patience else TrainConfig(progress=False)
    print(f"CNN training: at most {config.epochs} epochs, LR patience {config.lr_patience}, "
          f"early-stopping patience {config.early_stopping_patience}")
    for artists in args.artists:
        with tempfile.TemporaryDirectory() as tmp:
            compare(artists, args.tracks_per_artist, args.seed, Path(tmp), config)


if __name__ == "__main__":
    main()
