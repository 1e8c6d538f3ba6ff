"""The seed's Random Forest genre classifier, as a scikit-learn-style estimator.

``MusicGenreClassifier`` wraps :class:`sklearn.ensemble.RandomForestClassifier` and adds
what a model file needs to be used alone: the feature names it was trained on, the
class list, and the library versions. Files are written with ``skops`` (no pickle):
loading one never runs code from the file, and only the types listed in
:data:`TRUSTED_TYPES` are accepted.

Example:
    >>> clf = MusicGenreClassifier(n_estimators=300, random_state=0).fit(X_train, y_train)
    >>> clf.predict(X_test)                              # genre names
    >>> clf.predict(extractor.extract_all_features(path))  # the seed's single-item form
    {'genre_prediction': {'predicted_genre': 'rock', 'confidence': 0.41, 'probabilities': {...}}}
    >>> clf.save_model("runs/course/rf_model.skops")
    >>> MusicGenreClassifier.load_model("runs/course/rf_model.skops")
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier

from .paths import atomic_write

#: Marks a file as a Muzo Random Forest model (checked on load).
MODEL_FORMAT = "muzo-random-forest"
MODEL_FORMAT_VERSION = 1
#: Types a model file may contain besides the defaults skops trusts.
TRUSTED_TYPES = [
    "muzo_lib.forest.MusicGenreClassifier",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
]


class ModelFormatError(ValueError):
    """A file that is not a (compatible) Muzo Random Forest model."""


class FeatureMismatchError(ValueError):
    """Features given to a trained model do not match the ones it was trained on."""


class MusicGenreClassifier(ClassifierMixin, BaseEstimator):
    """Random Forest over named audio descriptors (see :mod:`muzo_lib.features`).

    Args:
        n_estimators: trees in the forest.
        max_depth: deepest tree level; ``None`` grows trees until leaves are pure,
            which memorises the training set (the seed's overfitting).
        min_samples_leaf: fewest training tracks per leaf; larger = smoother, less overfit.
        max_features: features tried per split (``"sqrt"``, a fraction, or a count).
        class_weight: ``None`` or ``"balanced"`` (for unequal genre sizes).
        random_state: seed; with it, fitting is repeatable.
        n_jobs: cores for fitting and predicting (-1 = all).

    Attributes (after :meth:`fit`):
        classes_: genre names, the column order of :meth:`predict_proba`.
        feature_names_in_: the descriptor names, in the column order used for training.
        forest_: the fitted :class:`~sklearn.ensemble.RandomForestClassifier`.
    """

    def __init__(self, n_estimators: int = 300, max_depth: int | None = None, min_samples_leaf: int = 1,
                 max_features="sqrt", class_weight=None, random_state: int | None = 0, n_jobs: int = -1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------ training
    def fit(self, X, y):
        """Train on ``X`` (DataFrame with named descriptor columns, or an array) and
        genre labels ``y`` (names or integers). Returns ``self``."""
        frame = _as_frame(X)
        if frame.shape[0] == 0:
            raise ValueError("cannot fit on an empty feature table")
        if not np.all(np.isfinite(frame.to_numpy(dtype=float))):
            raise ValueError("feature table contains NaN or infinite values")
        y = np.asarray(y)
        if len(y) != len(frame):
            raise ValueError(f"{len(frame)} feature rows but {len(y)} labels")
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, class_weight=self.class_weight, random_state=self.random_state,
            n_jobs=self.n_jobs)
        self.forest_.fit(frame.to_numpy(dtype=np.float64), y)
        self.classes_ = self.forest_.classes_
        return self

    # ------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_tracks, n_classes)``, columns in :attr:`classes_` order."""
        matrix = self._matrix(X)  # checks fitted + feature names first
        return self.forest_.predict_proba(matrix)

    def predict(self, X):
        """Genres of a feature table, or, for one track's ``{name: value}`` dict (the
        seed's form), ``{"genre_prediction": {"predicted_genre", "confidence",
        "probabilities": {genre: p}}}``."""
        proba = self.predict_proba(pd.DataFrame([X]) if isinstance(X, dict) else X)
        if isinstance(X, dict):
            proba = proba[0]
            best = int(np.argmax(proba))
            return {"genre_prediction": {
                "predicted_genre": str(self.classes_[best]),
                "confidence": float(proba[best]),
                "probabilities": {str(c): float(p) for c, p in zip(self.classes_, proba)}}}
        return self.classes_[np.argmax(proba, axis=1)]

    def _matrix(self, X) -> np.ndarray:
        """The columns the model was trained on, in its order; a clear error otherwise."""
        if not hasattr(self, "forest_"):
            raise ValueError("this MusicGenreClassifier is not fitted yet: call fit() or load_model()")
        frame = _as_frame(X, expected=self.feature_names_in_)
        names = list(self.feature_names_in_)
        missing = [n for n in names if n not in frame.columns]
        if missing:
            extra = [c for c in frame.columns if c not in set(names)]
            raise FeatureMismatchError(
                f"feature set does not match the model: {len(missing)} missing ({_few(missing)})"
                + (f", {len(extra)} unknown ({_few(extra)})" if extra else "")
                + "; extract features with the same AudioFeatureExtractor settings as for training")
        matrix = frame[names].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(matrix)):
            raise ValueError("features contain NaN or infinite values")
        return matrix

    @property
    def feature_importances_(self) -> np.ndarray:
        """Mean decrease in impurity per feature (in :attr:`feature_names_in_` order)."""
        return self.forest_.feature_importances_

    # ------------------------------------------------------------ files
    def save_model(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to ``path`` (skops format, atomic) with its feature
        names, class list and library versions."""
        import skops.io as sio

        if not hasattr(self, "forest_"):
            raise ValueError("cannot save an unfitted MusicGenreClassifier")
        payload = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
                   "model": self, "feature_names": [str(n) for n in self.feature_names_in_],
                   "classes": [str(c) for c in self.classes_], "versions": library_versions()}
        return atomic_write(path, lambda tmp: sio.dump(payload, tmp))

    @classmethod
    def load_model(cls, path: str | os.PathLike) -> "MusicGenreClassifier":
        """Read a model written by :meth:`save_model`.

        Raises:
            FileNotFoundError: no such file.
            ModelFormatError: the file is not a Muzo Random Forest model (another format,
                another program's skops file, or types outside :data:`TRUSTED_TYPES`).
        """
        import skops.io as sio

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file")
        try:
            untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
        except Exception as exc:
            raise ModelFormatError(f"{path}: not a Muzo Random Forest model (not a skops file: "
                                   f"{type(exc).__name__})") from None
        if untrusted:
            raise ModelFormatError(f"{path}: refusing to load types a Muzo model never holds: "
                                   f"{_few(sorted(untrusted))}")
        try:
            payload = sio.load(path, trusted=TRUSTED_TYPES)
        except Exception as exc:
            raise ModelFormatError(f"{path}: could not be read as a Muzo Random Forest model "
                                   f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT \
                or not isinstance(payload.get("model"), cls):
            raise ModelFormatError(f"{path}: not a Muzo Random Forest model")
        if payload.get("format_version") != MODEL_FORMAT_VERSION:
            raise ModelFormatError(f"{path}: model format version {payload.get('format_version')}, "
                                   f"this Muzo reads version {MODEL_FORMAT_VERSION}")
        model = payload["model"]
        model.saved_versions_ = payload.get("versions", {})
        return model


def library_versions() -> dict[str, str]:
    """Versions that a saved model depends on (recorded in the file)."""
    import sklearn
    import skops

    from . import features  # noqa: F401  (its settings decide what the features mean)
    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "skops": skops.__version__, "features_version": str(features.FEATURES_VERSION)}


def _as_frame(X, expected=None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, dict):
        return pd.DataFrame([X])
    array = np.asarray(X, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"features must be a table (tracks, features), got shape {array.shape}")
    if expected is not None:
        if array.shape[1] != len(expected):
            raise FeatureMismatchError(f"feature set does not match the model: got {array.shape[1]} columns, "
                                       f"the model was trained on {len(expected)}")
        return pd.DataFrame(array, columns=list(expected))
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _few(names, n: int = 5) -> str:
    names = list(names)
    return ", ".join(map(str, names[:n])) + (f", ... (+{len(names) - n})" if len(names) > n else "")


# ---------------------------------------------------------------- experiments (notebook 02)
#: Columns of a feature table that are not features.
NON_FEATURE_COLUMNS = ("genre", "label", "artist", "split", "filename", "length", "path", "track_id")


def feature_columns(table: pd.DataFrame, include_extras: bool = True) -> list[str]:
    """The numeric descriptor columns of a feature table (``length``, labels, ids dropped);
    ``include_extras=False`` keeps the GTZAN table's 57 only."""
    names = [c for c in table.columns if c not in NON_FEATURE_COLUMNS and pd.api.types.is_numeric_dtype(table[c])]
    return names if include_extras else [c for c in names if not c.startswith("extra_")]


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
    from .evaluation import classification_metrics

    model = MusicGenreClassifier(**params).fit(X_train, y_train)
    index = {c: i for i, c in enumerate(classes)}
    scores = {}
    for name, (X, y) in eval_sets.items():
        predicted = model.predict(X)
        scores[name] = classification_metrics([index[g] for g in y], [index[g] for g in predicted], classes)
    return model, scores


def random_track_split(table: pd.DataFrame, like: pd.Series, seed: int = 0) -> pd.Series:
    """A leaky split for comparison: the same train/valid/test sizes per genre as
    ``like`` (the run's split), but tracks drawn at random, ignoring artists."""
    rng = np.random.default_rng(seed)
    out = pd.Series(index=table.index, dtype=object)
    for genre, rows in table.groupby("genre").groups.items():
        sides = like.loc[rows].to_numpy().copy()
        rng.shuffle(sides)
        out.loc[rows] = sides
    return out


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
    from .datasets import gtzan_fault_filtered_split

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

    perm = permutation_importance(model, X[list(model.feature_names_in_)], np.asarray(y), n_repeats=n_repeats,
                                  random_state=seed, scoring="accuracy", n_jobs=1)
    return pd.DataFrame({"impurity": model.feature_importances_, "permutation": 100 * perm.importances_mean,
                         "permutation_std": 100 * perm.importances_std},
                        index=pd.Index(model.feature_names_in_, name="feature")).sort_values("permutation", ascending=False)
