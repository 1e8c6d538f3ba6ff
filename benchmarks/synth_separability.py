"""How hard is the generated dataset? Single descriptors vs a Random Forest, artist-grouped CV.

The generated dataset must teach: no single number (tempo, loudness, brightness) should
give the genre away, while a Random Forest on a handful of standard descriptors should
do clearly better than chance. Within a genre, the forest's subgenre accuracy shows which
pairs the summary statistics separate and which (the groove twins) they barely do. Scores use 5-fold cross-validation grouped by artist
(no artist on both sides), plus, for contrast, ungrouped folds that leak artists.

Usage:
    .venv/bin/python benchmarks/synth_separability.py [--tracks-per-subgenre N] [--artists-per-subgenre N] [--duration 10]

Without options it measures the course's own dataset (``generate_dataset``'s defaults).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from muzo_lib.data.synth import generate_dataset
from muzo_lib.io.audio import load_audio

SINGLE_DESCRIPTORS = ["tempo", "rms_mean", "centroid_mean"]
LIMIT = 0.60


def descriptors(path: Path, sr: int) -> dict:
    """The usual GTZAN-table descriptors of one track, averaged over frames."""
    y = load_audio(path, sample_rate=sr)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    frames = {
        "rms": librosa.feature.rms(y=y)[0],
        "centroid": librosa.feature.spectral_centroid(y=y, sr=sr)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=sr)[0],
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr)[0],
        "zcr": librosa.feature.zero_crossing_rate(y)[0],
    }
    row = {"tempo": float(np.atleast_1d(tempo)[0])}
    for name, values in frames.items():
        row[f"{name}_mean"], row[f"{name}_var"] = float(values.mean()), float(values.var())
    for i, coef in enumerate(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)):
        row[f"mfcc{i}_mean"], row[f"mfcc{i}_var"] = float(coef.mean()), float(coef.var())
    for i, pitch_class in enumerate(librosa.feature.chroma_stft(y=y, sr=sr)):
        row[f"chroma{i}_mean"] = float(pitch_class.mean())
    return row


def cv_accuracy(model, X, y, groups, grouped: bool = True) -> float:
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=0) if grouped else \
        StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, X, y, groups=groups if grouped else None, cv=folds).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks-per-subgenre", type=int, default=None, help="default: generate_dataset's")
    parser.add_argument("--artists-per-subgenre", type=int, default=None, help="default: generate_dataset's")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per track")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sizes = {k: v for k, v in (("tracks_per_subgenre", args.tracks_per_subgenre),
                                   ("artists_per_subgenre", args.artists_per_subgenre)) if v is not None}
        root = generate_dataset(Path(tmp) / "generated", duration=args.duration, seed=args.seed, **sizes)
        print(f"generated in {time.perf_counter() - start:.1f} s")
        meta = pd.read_csv(root / "metadata.csv")
        rows = Parallel(n_jobs=-1)(delayed(descriptors)(root / p, 22050) for p in meta.path)
    table = pd.DataFrame(rows)
    y, groups = meta.genre.to_numpy(), meta.artist.to_numpy()
    print(f"{len(meta)} tracks, {meta.genre.nunique()} genres, {meta.artist.nunique()} artists; "
          f"chance = {1 / meta.genre.nunique():.2f}")

    print("\nsingle descriptor, artist-grouped 5-fold CV (tree depth 3 | 5-NN):")
    worst = 0.0
    for name in SINGLE_DESCRIPTORS:
        X = table[[name]].to_numpy()
        tree = cv_accuracy(DecisionTreeClassifier(max_depth=3, random_state=0), X, y, groups)
        knn = cv_accuracy(make_pipeline(StandardScaler(), KNeighborsClassifier(5)), X, y, groups)
        worst = max(worst, tree, knn)
        print(f"  {name:15s} {tree:.2f} | {knn:.2f}")
    print(f"  best single descriptor: {worst:.2f} ({'ok' if worst <= LIMIT else 'TOO EASY'}, limit {LIMIT:.2f})")

    forest = RandomForestClassifier(300, random_state=0, n_jobs=-1)
    X = table.to_numpy()
    print(f"\nRandom Forest on {X.shape[1]} descriptors:")
    print(f"  artist-grouped 5-fold CV: {cv_accuracy(forest, X, y, groups):.2f}")
    print(f"  random 5-fold CV (artists leak): {cv_accuracy(forest, X, y, groups, grouped=False):.2f}")
    subgenres_within_genres(table, meta, forest)


def subgenres_within_genres(table: pd.DataFrame, meta: pd.DataFrame, forest) -> None:
    """The forest telling a genre's subgenres apart, genre by genre (chance 0.50 for two).

    The groove twins (house / uk_garage, roots / rockers) share their band and differ only
    in where the kick falls: per-track averages should barely separate them."""
    if "subgenre" not in meta or meta.subgenre.isna().all():
        return
    print("\nsubgenre within its genre, Random Forest, artist-grouped 5-fold CV:")
    for genre, part in meta.groupby("genre"):
        if part.subgenre.nunique() < 2 or part.artist.nunique() < 5:
            continue
        rows = part.index.to_numpy()
        acc = cv_accuracy(forest, table.iloc[rows].to_numpy(), part.subgenre.to_numpy(), part.artist.to_numpy())
        print(f"  {genre:11s} {' / '.join(sorted(part.subgenre.unique())):28s} {acc:.2f}")


if __name__ == "__main__":
    main()
