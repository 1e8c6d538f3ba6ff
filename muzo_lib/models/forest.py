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

from muzo_lib.io.skops_files import holds_format, load_skops, save_skops

#: Marks a file as a Muzo Random Forest model (checked on load).
#: The library's forest size (:class:`MusicGenreClassifier`'s default; the course trains
#: ``muzo_lib.course.members.COURSE_FOREST``'s 200).
FOREST_TREES = 300
MODEL_FORMAT = "muzo-random-forest"
MODEL_FORMAT_VERSION = 1
#: Types a model file may contain besides the defaults skops trusts.
TRUSTED_TYPES = [
    "muzo_lib.models.forest.MusicGenreClassifier",
    "muzo_lib.forest.MusicGenreClassifier",  # files saved before the subpackages
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
    """Random Forest over named audio descriptors (see :mod:`muzo_lib.features.handmade`).

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

    def __init__(self, n_estimators: int = FOREST_TREES, max_depth: int | None = None, min_samples_leaf: int = 1,
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
            from muzo_lib.models.result import Prediction

            result = Prediction.from_probabilities(proba[0], [str(c) for c in self.classes_])
            return {"genre_prediction": result.to_seed_dict()}
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
        if not hasattr(self, "forest_"):
            raise ValueError("cannot save an unfitted MusicGenreClassifier")
        payload = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
                   "model": self, "feature_names": [str(n) for n in self.feature_names_in_],
                   "classes": [str(c) for c in self.classes_], "versions": library_versions()}
        return save_skops(path, payload)

    @classmethod
    def load_model(cls, path: str | os.PathLike) -> "MusicGenreClassifier":
        """Read a model written by :meth:`save_model`.

        Raises:
            FileNotFoundError: no such file.
            ModelFormatError: the file is not a Muzo Random Forest model (another format,
                another program's skops file, or types outside :data:`TRUSTED_TYPES`).
        """
        return load_skops(path, cls, TRUSTED_TYPES, MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelFormatError, "Random Forest model")


def is_forest_model(path: str | os.PathLike) -> bool:
    """True when ``path`` is a skops file holding a Muzo Random Forest (read without loading it)."""
    return holds_format(path, MODEL_FORMAT)


def library_versions() -> dict[str, str]:
    """Versions that a saved model depends on (recorded in the file)."""
    import sklearn
    import skops

    from muzo_lib.features import handmade as features  # noqa: F401  (its settings decide what the features mean)
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
