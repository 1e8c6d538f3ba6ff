"""Scores every model in the course is reported with, computed one way.

Track level is the headline: a network's segment probabilities are averaged per track
before the arg-max (:func:`track_probabilities`), so a 30 s track counts once whatever
its number of segments.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_metrics(y_true, y_pred, classes: list[str]) -> dict:
    """Accuracy and macro F1 (in percent), per-class precision/recall/F1, confusion matrix.

    Args:
        y_true, y_pred: integer class indices into ``classes``.
        classes: class names; every class is reported, even one absent from ``y_true``.

    Returns:
        dict with ``accuracy`` and ``macro_f1`` (percent), ``n`` (items scored),
        ``per_class`` ({class: {precision, recall, f1, support}}) and ``confusion``
        (list of lists, rows = true class, columns = predicted).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.arange(len(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": 100.0 * accuracy_score(y_true, y_pred) if len(y_true) else float("nan"),
        "macro_f1": 100.0 * f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def track_probabilities(segment_probs: np.ndarray, track_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average segment probabilities per track.

    Args:
        segment_probs: ``(n_segments, n_classes)``.
        track_index: ``(n_segments,)`` the track each segment came from.

    Returns:
        ``(tracks, probs)``: the sorted unique track indices and their ``(n_tracks, n_classes)``
        mean probabilities.
    """
    tracks, inverse = np.unique(track_index, return_inverse=True)
    sums = np.zeros((len(tracks), segment_probs.shape[1]))
    np.add.at(sums, inverse, segment_probs)
    return tracks, sums / np.bincount(inverse)[:, None]


def compare_models(probs_by_name: dict[str, np.ndarray], y, classes: list[str]) -> pd.DataFrame:
    """Accuracy, macro F1 and per-class F1 (all percent) of each model or fusion.

    Args:
        probs_by_name: ``{name: (n_tracks, n_classes)}`` on the same tracks.
        y: true class indices.
        classes: class names (column order).

    Returns:
        One row per name: ``accuracy``, ``macro_f1``, then ``f1 <genre>`` per class.
    """
    rows = {}
    for name, probs in probs_by_name.items():
        m = classification_metrics(y, np.asarray(probs).argmax(axis=1), classes)
        rows[name] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                      **{f"f1 {c}": 100 * m["per_class"][c]["f1"] for c in classes}}
    return pd.DataFrame.from_dict(rows, orient="index")
