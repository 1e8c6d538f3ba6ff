"""The Random Forest experiments notebook 02 runs: one call per lesson.

Overfitting (:func:`complexity_sweep`, :func:`learning_curve`), artist leakage
(:func:`split_comparison`, :func:`gtzan_table_experiment` on the public GTZAN features
table) and which descriptors matter (:func:`feature_importances`). The estimator itself
lives in :mod:`muzo_lib.models.forest`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from muzo_lib.data.splits import random_track_split
from muzo_lib.features.handmade import feature_columns
from muzo_lib.models.forest import MusicGenreClassifier


def fit_and_score(X_train: pd.DataFrame, y_train, eval_sets: dict, classes: list[str], **params):
    """Fit a :class:`MusicGenreClassifier` and score it on each named set.

    Args:
        X_train, y_train: training features and genre names.
        eval_sets: ``{name: (X, y)}``, e.g. ``{"train": ..., "test": ...}``.
        classes: genre names, for the metrics' class order.
        **params: :class:`MusicGenreClassifier` hyper-parameters.

    Returns:
        ``(model, {name: classification_metrics(...)})`` (accuracy, macro F1 in percent).
    """
    from muzo_lib.evaluation.metrics import classification_metrics

    model = MusicGenreClassifier(**params).fit(X_train, y_train)
    index = {c: i for i, c in enumerate(classes)}
    scores = {}
    for name, (X, y) in eval_sets.items():
        predicted = model.predict(X)
        scores[name] = classification_metrics([index[g] for g in y], [index[g] for g in predicted], classes)
    return model, scores


def split_comparison(table: pd.DataFrame, classes: list[str], features: list[str], seed: int = 0,
                     repeats: int = 5, **params) -> pd.DataFrame:
    """Train vs test accuracy on the run's (artist-grouped) split and on random per-track
    splits of the same sizes (``repeats`` seeds), trained on train+valid.

    Returns:
        One row per split: ``split``, ``train_accuracy``, ``test_accuracy`` (percent;
        the random rows are means over the repeats, ``test_std`` their spread).
    """
    rows = []

    def score(split):
        fit = split.isin(["train", "valid"])
        X, y = table[features], table.genre
        _, s = fit_and_score(X[fit], y[fit], {"train": (X[fit], y[fit]), "test": (X[split == "test"], y[split == "test"])},
                             classes, random_state=seed, **params)
        return s["train"]["accuracy"], s["test"]["accuracy"]

    train, test = score(table.split)
    rows.append(dict(split="run's split (no artist on two sides)", train_accuracy=train, test_accuracy=test, test_std=0.0))
    leaky = [score(random_track_split(table, table.split, seed + r)) for r in range(repeats)]
    rows.append(dict(split=f"random per-track split (mean of {repeats})", train_accuracy=np.mean([a for a, _ in leaky]),
                     test_accuracy=np.mean([b for _, b in leaky]), test_std=np.std([b for _, b in leaky])))
    return pd.DataFrame(rows)


def complexity_sweep(table: pd.DataFrame, classes: list[str], features: list[str], param: str, values,
                     seed: int = 0, **params) -> pd.DataFrame:
    """Train/valid/test accuracy (percent) as one hyper-parameter varies, others fixed;
    fitted on the run's train split. Choose by ``valid``; ``test`` is shown, not used."""
    sets = {s: (table.loc[table.split == s, features], table.genre[table.split == s]) for s in ("train", "valid", "test")}
    rows = []
    for value in values:
        _, s = fit_and_score(*sets["train"], sets, classes, random_state=seed, **{**params, param: value})
        rows.append({param: "None" if value is None else value, **{f"{k}_accuracy": v["accuracy"] for k, v in s.items()}})
    out = pd.DataFrame(rows)
    out["gap"] = out.train_accuracy - out.valid_accuracy
    return out


def learning_curve(table: pd.DataFrame, classes: list[str], features: list[str], fractions=(0.25, 0.5, 0.75, 1.0),
                   seed: int = 0, **params) -> pd.DataFrame:
    """Train/valid accuracy (percent) when training on a growing share of the train
    tracks (stratified by genre, the same seed): does more data close the gap?"""
    rng = np.random.default_rng(seed)
    train = table[table.split == "train"]
    shuffled = {g: rng.permutation(np.asarray(idx)) for g, idx in sorted(train.groupby("genre").groups.items())}
    valid = (table.loc[table.split == "valid", features], table.genre[table.split == "valid"])
    rows = []
    for fraction in fractions:
        part = train.loc[np.concatenate([idx[:max(1, int(round(fraction * len(idx))))] for idx in shuffled.values()])]
        _, s = fit_and_score(part[features], part.genre, {"train": (part[features], part.genre), "valid": valid},
                             classes, random_state=seed, **params)
        rows.append(dict(train_tracks=len(part), train_accuracy=s["train"]["accuracy"], valid_accuracy=s["valid"]["accuracy"]))
    out = pd.DataFrame(rows)
    out["gap"] = out.train_accuracy - out.valid_accuracy
    return out


def read_gtzan_table(path: str | os.PathLike) -> pd.DataFrame:
    """The GTZAN features CSV as a table indexed by track name (``blues.00000``), with
    ``genre`` and ``split`` (fault-filtered split; ``""`` = on the fault list) columns.

    Raises:
        FileNotFoundError, ValueError: missing file or not the GTZAN table's columns.
    """
    from muzo_lib.data.datasets import gtzan_fault_filtered_split

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such features table")
    table = pd.read_csv(path)
    need = {"filename", "label"} | {"tempo", "mfcc1_mean"}
    if not need <= set(table.columns):
        raise ValueError(f"{path}: not a GTZAN-style features table (needs columns {sorted(need)})")
    table.index = pd.Index(table.filename.map(lambda f: Path(f).stem), name="track")
    table["genre"] = table.label
    table["split"] = table.index.map(gtzan_fault_filtered_split()).fillna("")
    return table.drop(columns=["filename", "label"])


def gtzan_table_experiment(table: pd.DataFrame, seed: int = 0, n_estimators: int = 500, folds: int = 10,
                           grid: dict | None = None, n_jobs: int = -1) -> dict:
    """The GTZAN table two ways: fault-filtered split (train+valid -> test) vs random
    stratified ``folds``-fold cross-validation, plus an honest attempt to do better on
    the fault-filtered split (hyper-parameters chosen on train -> valid only).

    Returns:
        dict with ``fault_filtered`` and ``random_kfold`` (test accuracy, percent; the
        k-fold also ``kfold_std``), ``tuning`` (DataFrame: each candidate's valid accuracy),
        ``best_params``, ``tuned_fault_filtered`` (test accuracy of the chosen setting,
        refit on train+valid) and ``tuned_metrics``/``baseline_metrics`` (full metrics).
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    features = feature_columns(table)
    classes = sorted(table.genre.unique())
    kept = table[table.split != ""]
    fit = kept.split.isin(["train", "valid"])
    X, y = kept[features], kept.genre
    base = dict(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)
    _, base_scores = fit_and_score(X[fit], y[fit], {"test": (X[~fit], y[~fit])}, classes, **base)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    kfold = 100 * cross_val_score(MusicGenreClassifier(**base), table[features], table.genre, cv=cv)

    grid = grid or {"max_features": ["sqrt", 0.3, 0.5], "min_samples_leaf": [1, 3, 5], "class_weight": [None, "balanced"]}
    train, valid = kept.split == "train", kept.split == "valid"
    candidates = [dict(zip(grid, values)) for values in _product(*grid.values())]
    rows = []
    for candidate in candidates:
        _, s = fit_and_score(X[train], y[train], {"valid": (X[valid], y[valid])}, classes, **base, **candidate)
        rows.append({**{k: str(v) for k, v in candidate.items()}, "valid_accuracy": s["valid"]["accuracy"]})
    tuning = pd.DataFrame(rows)
    best = candidates[int(tuning.valid_accuracy.to_numpy().argmax())]
    _, tuned = fit_and_score(X[fit], y[fit], {"test": (X[~fit], y[~fit])}, classes, **base, **best)
    return dict(fault_filtered=base_scores["test"]["accuracy"], random_kfold=float(kfold.mean()),
                kfold_std=float(kfold.std()), n_train=int(fit.sum()), n_test=int((~fit).sum()),
                n_faulty=int((table.split == "").sum()), tuning=tuning, best_params=best,
                tuned_fault_filtered=tuned["test"]["accuracy"], tuned_metrics=tuned["test"],
                baseline_metrics=base_scores["test"], classes=classes)


def _product(*lists):
    import itertools
    return itertools.product(*lists)


def feature_importances(model: MusicGenreClassifier, X: pd.DataFrame, y, seed: int = 0, n_repeats: int = 5) -> pd.DataFrame:
    """Impurity importance (from the training data) and permutation importance (accuracy
    drop, in percentage points, when one feature is shuffled in ``X``/``y``: held-out
    tracks), indexed by feature name and sorted by permutation importance."""
    from sklearn.inspection import permutation_importance

    # one thread per prediction: each of the ~n_features x n_repeats predictions scores a few dozen
    # tracks, where dispatching the trees to a thread pool costs more than it saves (20 s -> 6 s
    # for 85 features x 5 repeats, 200 trees, 48 tracks, 2 cores); the numbers are the same
    jobs, model.forest_.n_jobs = model.forest_.n_jobs, 1
    try:
        perm = permutation_importance(model, X[list(model.feature_names_in_)], np.asarray(y), n_repeats=n_repeats,
                                      random_state=seed, scoring="accuracy", n_jobs=1)
    finally:
        model.forest_.n_jobs = jobs
    return pd.DataFrame({"impurity": model.feature_importances_, "permutation": 100 * perm.importances_mean,
                         "permutation_std": 100 * perm.importances_std},
                        index=pd.Index(model.feature_names_in_, name="feature")).sort_values("permutation", ascending=False)
