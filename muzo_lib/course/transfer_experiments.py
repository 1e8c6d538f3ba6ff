"""Notebook 05's baselines: what one would do without transfer learning.

The embedding classifier is judged against classic hand-made features (:func:`handmade_baseline`,
cross-validated by :func:`muzo_lib.models.pretrained.classifier.cross_validate`) and a network trained
from scratch (:func:`muzo_lib.course.members.cross_validate` with ``folds=``), all on the SAME
folds (:func:`muzo_lib.models.pretrained.classifier.cv_folds`), so each track is predicted once by
each model, by a model that never saw it. Every one returns a :class:`muzo_lib.evaluation.metrics.CVResult`.
:func:`paired_comparison` lines models up on the same tracks, each difference with its paired interval.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from muzo_lib.evaluation.metrics import accuracy_interval, paired_difference
from muzo_lib.models.forest import FOREST_TREES


def handmade_baseline(kind: str = "logreg", seed: int = 0):
    """A scikit-learn classifier for hand-made feature tables: ``"logreg"`` (standardise + logistic
    regression, the same head as the embedding classifier) or ``"rf"`` (:data:`~muzo_lib.models.forest.FOREST_TREES` trees)."""
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, n_jobs=-1)
    raise ValueError(f"unknown baseline {kind!r}; choose 'logreg' or 'rf'")


def paired_comparison(genres, predicted: dict, classes, reference: str, seed: int = 0) -> pd.DataFrame:
    """Every model's accuracy on the same tracks, with its 95% interval, and its paired difference from ``reference``.

    Notebook 05 puts frozen, fine-tuned and from-scratch models side by side this way: the
    difference is bootstrapped over tracks with each track's pair of outcomes kept together
    (:func:`~muzo_lib.evaluation.metrics.paired_difference`), so the tracks that are hard for
    every model cancel out and the interval is narrower than the two accuracies' own. Each
    accuracy's own interval is Wilson's (:func:`~muzo_lib.evaluation.metrics.accuracy_interval`):
    models this good often score 100% on a few dozen tracks, where a bootstrap over tracks
    collapses to [100, 100] and Wilson's still says how much lower the true accuracy may be.

    Args:
        genres: the true genre of each track.
        predicted: ``{model name: predicted genre of each track}``, tracks in the order of ``genres``.
        classes: the genres, in the models' order.
        reference: the name in ``predicted`` every other model is compared with.

    Returns:
        one row per model (``reference`` first): ``accuracy``, ``ci_low``, ``ci_high``,
        ``tracks``, and for the others ``minus`` (the difference in points), ``diff_low``,
        ``diff_high`` and ``verdict`` (``"detectable"`` when the interval excludes 0, else
        ``"no detectable difference"``).
    """
    if reference not in predicted:
        raise ValueError(f"paired_comparison: the reference {reference!r} is not among {list(predicted)}")
    index = {c: i for i, c in enumerate(classes)}
    truth = np.array([index[g] for g in genres])
    labels = {name: np.array([index[g] for g in p]) for name, p in predicted.items()}
    if any(len(p) != len(truth) for p in labels.values()):
        raise ValueError("paired_comparison: every model must predict the same tracks as `genres` holds")
    rows = {}
    for name in [reference] + [n for n in labels if n != reference]:
        accuracy = 100 * float(np.mean(labels[name] == truth))
        low, high = accuracy_interval(accuracy, len(truth))
        row = {"accuracy": accuracy, "ci_low": low, "ci_high": high, "tracks": len(truth)}
        if name != reference:
            d = paired_difference(truth, labels[name], labels[reference], seed=seed)
            row |= {"minus": d["difference"], "diff_low": d["low"], "diff_high": d["high"],
                    "verdict": "detectable" if d["detectable"] else "no detectable difference"}
        rows[name] = row
    return pd.DataFrame(rows).T


def paired_sentences(table: pd.DataFrame, reference: str) -> list[str]:
    """One sentence per model of :func:`paired_comparison`'s table: its difference from
    ``reference`` with the interval, and what that interval allows one to say."""
    lines = []
    for name, row in table.drop(index=reference).iterrows():
        said = (f"{name} minus {reference}: {row.minus:+.1f} points [{row.diff_low:+.1f}, {row.diff_high:+.1f}] "
                f"on {int(row.tracks)} tracks, ")
        if row.verdict == "detectable":
            said += f"{'better' if row.minus > 0 else 'worse'} by more than these tracks' chance variation."
        else:
            said += "no detectable difference: the interval covers 0."
        lines.append(said)
    return lines
