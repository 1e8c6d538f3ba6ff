"""Scores every model in the course is reported with, computed one way.

Track level is the headline: a network's segment probabilities are averaged per track
before the arg-max (:func:`track_probabilities`), so a 30 s track counts once whatever
its number of segments.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
# scikit-learn and pandas are imported where a score or a table is made: `muzo predict` reads
# track_probabilities from here and should not pay ~1.5 s of imports for them


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
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

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
    import pandas as pd

    rows = {}
    for name, probs in probs_by_name.items():
        m = classification_metrics(y, np.asarray(probs).argmax(axis=1), classes)
        rows[name] = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                      **{f"f1 {c}": 100 * m["per_class"][c]["f1"] for c in classes}}
    return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------- uncertainty

def metric_intervals(y_true, y_pred, n_classes: int, level: float = 0.95, n_boot: int = 2000,
                     seed: int = 0) -> dict:
    """Percentile-bootstrap intervals of accuracy and macro F1 over the scored items.

    Tracks (not segments) are resampled with replacement ``n_boot`` times, so the interval
    says how much the score would move on another draw of as many tracks: on 18 tracks one
    track is 5.6 points and the interval is wide; on 300 it narrows.

    Args:
        y_true, y_pred: integer class indices, one per track.
        n_classes: number of classes (macro F1 averages over all of them).
        level: coverage of the interval (0.95 = 95%).

    Returns:
        ``{"accuracy": (low, high), "macro_f1": (low, high), "n": n, "level": level}``,
        percent; ``(nan, nan)`` when there are no items.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    n = len(y_true)
    if n == 0:
        return {"accuracy": (float("nan"),) * 2, "macro_f1": (float("nan"),) * 2, "n": 0, "level": level}
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    t, p = y_true[idx], y_pred[idx]
    accuracy = 100.0 * (t == p).mean(axis=1)
    macro_f1 = 100.0 * _macro_f1_rows(t, p, n_classes)
    tail = 100 * (1 - level) / 2
    return {"accuracy": tuple(float(v) for v in np.percentile(accuracy, [tail, 100 - tail])),
            "macro_f1": tuple(float(v) for v in np.percentile(macro_f1, [tail, 100 - tail])),
            "n": n, "level": level}


def _macro_f1_rows(t: np.ndarray, p: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 of each row of ``(rows, n)`` true/predicted index arrays, averaged over the
    classes the row holds (as truth or prediction). A class a resample left out entirely has
    no F1: counting it as 0 would put a perfect model's interval below its own score."""
    rows = np.arange(len(t))[:, None]
    tp, true_n, pred_n = (np.zeros((len(t), n_classes)) for _ in range(3))
    np.add.at(true_n, (rows, t), 1)
    np.add.at(pred_n, (rows, p), 1)
    np.add.at(tp, (rows, t), t == p)
    denominator = true_n + pred_n
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.sum(axis=1) / np.maximum((denominator > 0).sum(axis=1), 1)


def paired_difference(y_true, pred_a, pred_b, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict:
    """Accuracy of model A minus model B on the same tracks, with a paired bootstrap interval.

    Both models are scored on each resampled set of tracks, so what the tracks have in
    common (easy or hard ones) cancels out. When the interval covers 0 the data show no
    detectable difference.

    Returns:
        ``{"difference", "low", "high"}`` in accuracy points, ``"n"``, and ``"detectable"``
        (the interval excludes 0).
    """
    y_true, pred_a, pred_b = (np.asarray(a, dtype=int) for a in (y_true, pred_a, pred_b))
    n = len(y_true)
    if n == 0:
        raise ValueError("paired_difference needs at least one track")
    gain = 100.0 * ((pred_a == y_true).astype(float) - (pred_b == y_true))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boot = gain[idx].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = (float(v) for v in np.percentile(boot, [tail, 100 - tail]))
    return {"difference": float(gain.mean()), "low": low, "high": high, "n": n,
            "detectable": bool(low > 0 or high < 0)}


def format_score(value: float, interval, n: int, unit: str = "tracks") -> str:
    """``72.2 [55.0, 86.1] on 18 tracks``: a score with its interval and how many items it rests on."""
    low, high = interval
    return f"{value:.1f} [{low:.1f}, {high:.1f}] on {n} {unit}"
