"""Scores every model in the course is reported with, computed one way.

Track level is the headline: a network's segment probabilities are averaged per track
before the arg-max (:func:`track_probabilities`), so a 30 s track counts once whatever
its number of segments.
"""
from __future__ import annotations

import numpy as np
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


def accuracy_interval(n_correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of an accuracy measured on ``n`` independent items, in percent.

    Unlike ``p +- 1.96 * sqrt(p (1 - p) / n)`` it stays inside [0, 100] and is sensible at
    small ``n`` and at 0% or 100%: 9 right of 10 gives ``(59.6, 98.2)``, not ``(71.4, 108.6)``.
    """
    from scipy.stats import norm

    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= n_correct <= n:
        raise ValueError(f"accuracy_interval needs 0 <= n_correct <= n, got {n_correct} of {n}")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = n_correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if n_correct == 0 else float(np.clip(100.0 * (centre - half), 0.0, 100.0))
    hi = 100.0 if n_correct == n else float(np.clip(100.0 * (centre + half), 0.0, 100.0))
    return lo, hi
