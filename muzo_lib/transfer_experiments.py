"""Notebook 05's comparisons: baselines on the same cross-validation folds as the embedding classifier.

Transfer learning is judged against what one would do without it: a network trained from
scratch on the same tracks (the CNN of notebook 03) and classic hand-made features. For a
fair comparison every model here is cross-validated on the SAME folds (:func:`cv_folds`), so
each track is predicted once by each model, by a model that never saw it.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .forest import FOREST_TREES
from .pretrained.classifier import track_scores


def handmade_baseline(kind: str = "logreg", seed: int = 0):
    """A scikit-learn classifier for hand-made feature tables: ``"logreg"`` (standardise + logistic
    regression, the same head as the embedding classifier) or ``"rf"`` (:data:`~muzo_lib.forest.FOREST_TREES` trees)."""
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, n_jobs=-1)
    raise ValueError(f"unknown baseline {kind!r}; choose 'logreg' or 'rf'")


def cross_validate_network(run, fold: np.ndarray, architecture: str = "cnn", mel_config=None, train_config=None,
                           seed: int = 0, logmels: dict | None = None) -> dict:
    """Cross-validate a network trained from scratch on the given folds, through the course's one
    cross-validation (:func:`muzo_lib.course_models.cross_validate`), nothing saved.

    Returns the same dict as :func:`muzo_lib.pretrained.classifier.cross_validate`, rows in
    ``run.tracks`` order.
    """
    from .course_models import cross_validate

    cv = cross_validate(run, architecture, seed=seed, train_config=train_config, mel_config=mel_config,
                        progress=False, folds=fold, logmels=logmels)
    table = cv["predictions"].set_index("track_id").loc[run.tracks.track_id]
    classes = list(run.classes)
    predicted = table.predicted.to_numpy(dtype=object)
    genres = run.tracks.genre.to_numpy()
    per_fold = [float(100 * np.mean(predicted[fold == k] == genres[fold == k])) for k in np.unique(fold)]
    return {"predicted": predicted, "probabilities": table[classes].to_numpy(), "fold": fold,
            "fold_accuracy": per_fold, **track_scores(genres, predicted, classes)}
