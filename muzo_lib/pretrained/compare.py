"""Baselines on the same cross-validation folds as the embedding classifier.

Transfer learning is judged against what one would do without it: a network trained from
scratch on the same tracks (the CNN of notebook 03) and classic hand-made features. For a
fair comparison every model here is cross-validated on the SAME folds (:func:`cv_folds`), so
each track is predicted once by each model, by a model that never saw it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .classifier import track_scores


def handmade_baseline(kind: str = "logreg", seed: int = 0):
    """A scikit-learn classifier for hand-made feature tables: ``"logreg"`` (standardise + logistic
    regression, the same head as the embedding classifier) or ``"rf"`` (300 trees)."""
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=-1)
    raise ValueError(f"unknown baseline {kind!r}; choose 'logreg' or 'rf'")


def fold_run(run, fold: np.ndarray, k: int, valid_fraction: float = 0.15, seed: int = 0):
    """A copy of ``run`` whose split is fold ``k`` of a CV: ``test`` = the tracks with ``fold == k``,
    ``valid`` = a genre-stratified ``valid_fraction`` of the others (for early stopping), ``train`` = the rest."""
    rng = np.random.default_rng(seed + k)
    split = np.where(fold == k, "test", "train").astype(object)
    genres = run.tracks.genre.to_numpy()
    for genre in np.unique(genres):
        rest = np.flatnonzero((fold != k) & (genres == genre))
        n_valid = max(1, int(round(valid_fraction * len(rest)))) if len(rest) >= 2 else 0
        split[rng.choice(rest, n_valid, replace=False)] = "valid"
    if not (split == "valid").any():
        raise ValueError("too few tracks outside the test fold to keep any for validation")
    tracks = run.tracks.assign(split=split)
    return dataclasses.replace(run, tracks=tracks)


def cross_validate_network(run, fold: np.ndarray, architecture: str = "cnn", mel_config=None, train_config=None,
                           seed: int = 0, logmels: dict | None = None) -> dict:
    """Cross-validate a network trained from scratch with the course's engine
    (:func:`muzo_lib.classifiers.train_on_run`), one training per fold, nothing saved.

    Returns the same dict as :func:`muzo_lib.pretrained.classifier.cross_validate`.
    """
    from ..classifiers import train_on_run
    from ..spectrogram import MelConfig

    mel = mel_config or MelConfig()
    logmels = logmels if logmels is not None else run.logmels(mel)
    classes = list(run.classes)
    probabilities = np.zeros((len(run.tracks), len(classes)))
    row = {t: i for i, t in enumerate(run.tracks.track_id)}
    for k in np.unique(fold):
        out = train_on_run(fold_run(run, fold, int(k), seed=seed), f"cv_{architecture}_{k}", architecture, mel,
                           train_config, logmels=logmels, seed=seed, save=False)
        rows = [row[name] for name in out["test"]["names"]]
        probabilities[rows] = out["test"]["track_probs"]
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    genres = run.tracks.genre.to_numpy()
    per_fold = [float(100 * np.mean(predicted[fold == k] == genres[fold == k])) for k in np.unique(fold)]
    return {"predicted": predicted, "probabilities": probabilities, "fold": fold, "fold_accuracy": per_fold,
            **track_scores(genres, predicted, classes)}
