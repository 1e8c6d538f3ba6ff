"""Scores every model in the course is reported with, computed one way.

Track level is the headline: a network's segment probabilities are averaged per track
before the arg-max (:func:`track_probabilities`), so a 30 s track counts once whatever
its number of segments.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
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


def accuracy_interval(accuracy: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (percent) of an accuracy of ``accuracy`` percent on ``n`` items:
    for a score known only as a number (a table's row), where no predictions are left to
    bootstrap; on a few dozen tracks it is close to the bootstrap interval.

    >>> [round(v, 1) for v in accuracy_interval(87.5, 48)]
    [75.3, 94.1]
    """
    from scipy.stats import norm

    if n <= 0:
        raise ValueError(f"an accuracy interval needs at least one item, got n={n}")
    z, p = float(norm.ppf(0.5 + level / 2)), accuracy / 100
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * max(0.0, float(centre - half)), 100 * min(1.0, float(centre + half))


def format_score(value: float, interval, n: int, unit: str = "tracks") -> str:
    """``72.2 [55.0, 86.1] on 18 tracks``: a score with its interval and how many items it rests on."""
    low, high = interval
    return f"{value:.1f} [{low:.1f}, {high:.1f}] on {n} {unit}"


# ---------------------------------------------------------------- cross-validation result

@dataclass
class CVResult:
    """What every cross-validation in the library returns: one row per track, predicted by
    the model of the fold that held the track out, and the pooled track-level scores.

    Rows are in the order they were predicted (the producer's order); :meth:`aligned`
    reorders them to line two results up track by track (for a paired difference).
    Make one with :meth:`from_predictions`, which computes every score the same way.
    """
    model: str                     # model kind or name ("cnn", "rf", "musicnn", a label)
    classes: list[str]             # probability columns, in order
    track_ids: np.ndarray          # one per row
    genres: np.ndarray             # the true genre of each row
    fold: np.ndarray               # the fold (0..k-1) that tested each row
    probabilities: np.ndarray      # (rows, classes), from the model that never saw the row
    accuracy: float                # percent, pooled over every row
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    per_fold: list[dict]           # [{"fold", "n", "accuracy"}] in fold order
    per_class: dict
    confusion: list[list[int]]
    protocol: str = ""             # how the folds were made, in words
    settings: dict = field(default_factory=dict)

    @classmethod
    def from_predictions(cls, model: str, classes, track_ids, genres, probabilities, fold, seed: int = 0,
                         protocol: str = "", settings: dict | None = None) -> CVResult:
        """Score out-of-fold ``probabilities`` (rows x ``classes``): accuracy and macro F1 with
        their 95% bootstrap intervals (:func:`metric_intervals` with ``seed``, over the rows
        in the given order), per fold, per class and the confusion matrix."""
        classes = [str(c) for c in classes]
        probabilities = np.asarray(probabilities, dtype=float)
        genres, fold = np.asarray(genres, dtype=object), np.asarray(fold, dtype=int)
        index = {c: i for i, c in enumerate(classes)}
        y_true = np.array([index[str(g)] for g in genres], dtype=int)
        y_pred = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, dtype=int)
        scores = classification_metrics(y_true, y_pred, classes)
        ci = metric_intervals(y_true, y_pred, len(classes), seed=seed)
        per_fold = [{"fold": int(k), "n": int((fold == k).sum()),
                     "accuracy": float(100 * np.mean(y_pred[fold == k] == y_true[fold == k]))}
                    for k in np.unique(fold)]
        return cls(model=model, classes=classes, track_ids=np.asarray(track_ids, dtype=object), genres=genres,
                   fold=fold, probabilities=probabilities, accuracy=scores["accuracy"], accuracy_ci=ci["accuracy"],
                   macro_f1=scores["macro_f1"], macro_f1_ci=ci["macro_f1"], per_fold=per_fold,
                   per_class=scores["per_class"], confusion=scores["confusion"], protocol=protocol,
                   settings=dict(settings or {}))

    @property
    def n(self) -> int:
        """Tracks scored (each once)."""
        return len(self.track_ids)

    @property
    def k(self) -> int:
        """Folds."""
        return len(self.per_fold)

    @property
    def predicted(self) -> np.ndarray:
        """The predicted genre of each row (the arg-max of its probabilities)."""
        return np.asarray(self.classes, dtype=object)[self.probabilities.argmax(axis=1)]

    @property
    def fold_accuracy(self) -> list[float]:
        """Accuracy (percent) of each fold, in fold order."""
        return [f["accuracy"] for f in self.per_fold]

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per track: ``track_id``, ``genre``, ``fold``, ``predicted`` and a probability column per class."""
        import pandas as pd

        table = pd.DataFrame({"track_id": self.track_ids, "genre": self.genres, "fold": self.fold,
                              "predicted": self.predicted})
        return pd.concat([table, pd.DataFrame(self.probabilities, columns=self.classes)], axis=1)

    def aligned(self, track_ids) -> CVResult:
        """The same result with its rows in the order of ``track_ids`` (every one must be a row);
        the scores are kept as computed."""
        row = {t: i for i, t in enumerate(self.track_ids)}
        order = np.array([row[t] for t in track_ids], dtype=int)
        return replace(self, track_ids=self.track_ids[order], genres=self.genres[order], fold=self.fold[order],
                       probabilities=self.probabilities[order])

    def to_dict(self, predictions: bool = True) -> dict:
        """JSON-ready: the scores (intervals as lists), ``n``, ``k``, the protocol and settings, and
        (``predictions=True``) one ``{track_id, genre, fold, predicted, probabilities}`` per row."""
        out = {"model": self.model, "classes": list(self.classes), "accuracy": float(self.accuracy),
               "accuracy_ci": [float(v) for v in self.accuracy_ci], "macro_f1": float(self.macro_f1),
               "macro_f1_ci": [float(v) for v in self.macro_f1_ci], "n": self.n, "k": self.k,
               "per_fold": [dict(f) for f in self.per_fold], "per_class": self.per_class,
               "confusion": self.confusion, "protocol": self.protocol, "settings": dict(self.settings),
               "level": "track", "evaluation": "cross-validation"}
        if predictions:
            out["predictions"] = [{"track_id": str(t), "genre": str(g), "fold": int(f), "predicted": str(p),
                                   "probabilities": [float(v) for v in row]}
                                  for t, g, f, p, row in zip(self.track_ids, self.genres, self.fold, self.predicted,
                                                             self.probabilities)]
        return out
