"""A genre classifier on musicnn embeddings: fit, cross-validate, save, load and predict.

Transfer learning in its simplest, strongest-on-small-data form: the pretrained network is
frozen and only a linear model (standardise + logistic regression, by default) is trained
on its per-track embeddings. An MLP head is the option for larger datasets.

- :class:`EmbeddingClassifier`: a scikit-learn estimator on track embedding vectors; it also
  records which embeddings it expects (variant, layer, precision), so a saved file alone is
  enough to predict. Saved with ``skops`` (no pickle; only :data:`TRUSTED_TYPES` load).
- :class:`EmbeddingPredictor`: a :class:`muzo_lib.models.predictor.Predictor` like every loaded model,
  so ``muzo predict`` and the prediction API can use it like any model.
- :func:`train_embedding_model`: train on a run's ``train`` split, score ``test``, save
  ``<run_dir>/models/<name>.skops`` and ``<run_dir>/metrics/<name>.json``.
- :func:`cross_validate` / :func:`cross_validate_embeddings`: k-fold CV over all of a run's
  tracks (stratified by genre, optionally grouped by artist), every track predicted once by a
  model that never saw it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from muzo_lib.evaluation.metrics import CVResult, classification_metrics, metric_intervals
from muzo_lib.io.skops_files import holds_format, load_skops, save_skops
from muzo_lib.models.predictor import PredictorBase

from .embeddings import LAYERS, SAMPLE_RATE, Embedder, EmbeddingConfig, run_embeddings, track_features
from .musicnn import HOP_LENGTH, PATCH_FRAMES

#: Marks a file as a Muzo embedding classifier (checked on load).
MODEL_FORMAT = "muzo-embedding-classifier"
MODEL_FORMAT_VERSION = 1
#: Types a model file may contain besides the defaults skops trusts.
TRUSTED_TYPES = [
    "muzo_lib.models.pretrained.classifier.EmbeddingClassifier",
    "muzo_lib.pretrained.classifier.EmbeddingClassifier",  # files saved before the subpackages
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.preprocessing._label.LabelBinarizer",
    "numpy.dtype",
]
HEADS = ("logreg", "mlp")
#: An embedding dimension whose spread over the training tracks is below this share of the
#: embeddings' RMS is float32 round-off, not signal (16 float32 epsilons, ~1.9e-6).
ROUND_OFF = 16 * float(np.finfo(np.float32).eps)


class EmbeddingModelError(ValueError):
    """A file that is not a usable Muzo embedding classifier (one line, saying why)."""


class EmbeddingClassifier(ClassifierMixin, BaseEstimator):
    """Standardise + logistic regression (or an MLP) on per-track musicnn embeddings.

    Args:
        head: ``"logreg"`` (multinomial logistic regression, L2 strength ``1/C``) or ``"mlp"``
            (one hidden ReLU layer of ``hidden_units``, Adam, L2 ``alpha``).
        C: inverse L2 strength of the logistic regression.
        hidden_units, alpha, max_iter: the MLP's width, L2 penalty and epochs.
        variant, layer, precision: which embeddings ``X`` holds (see :class:`EmbeddingConfig`
            and :func:`track_features`); stored so a saved model embeds new audio the same way.
        random_state: seeds the MLP (the logistic regression is deterministic).

    Example:
        >>> clf = EmbeddingClassifier().fit(X_train, genres_train)
        >>> clf.predict_proba(X_test)            # columns follow clf.classes_
        >>> clf.save_model("runs/course/models/musicnn.skops")
    """

    def __init__(self, head: str = "logreg", C: float = 1.0, hidden_units: int = 256, alpha: float = 1e-3,
                 max_iter: int = 2000, variant: str = "MSD_musicnn", layer: str = "penultimate",
                 precision: str = "auto", random_state: int | None = 0):
        self.head = head
        self.C = C
        self.hidden_units = hidden_units
        self.alpha = alpha
        self.max_iter = max_iter
        self.variant = variant
        self.layer = layer
        self.precision = precision
        self.random_state = random_state

    def _pipeline(self):
        if self.head == "logreg":
            final = LogisticRegression(C=self.C, max_iter=self.max_iter)
        elif self.head == "mlp":
            final = MLPClassifier(hidden_layer_sizes=(self.hidden_units,), alpha=self.alpha, max_iter=self.max_iter,
                                  random_state=self.random_state)
        else:
            raise ValueError(f"unknown head {self.head!r}; choose one of {HEADS}")
        return make_pipeline(StandardScaler(), final)

    def fit(self, X, y):
        if self.layer not in LAYERS:
            raise ValueError(f"unknown embedding layer {self.layer!r}; choose one of {sorted(LAYERS)}")
        X = self._matrix(X)
        y = np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} embeddings but {len(y)} labels")
        if len(np.unique(y)) < 2:
            raise ValueError("an embedding classifier needs at least two classes in its training data")
        pipeline = self._pipeline()
        scaler, final = pipeline[0], pipeline[-1]
        scaler.fit(X)
        # A musicnn unit that is dead on this data is a constant plus the convolutions' float32
        # round-off (measured: -2.3771e-6 +- 8.5e-11 over six clips). Standardising it would blow
        # that noise up to unit variance and make the classifier hang on it: another backend's
        # round-off (onnxruntime's, or another CPU's kernels) then moved a probability by 0.045.
        # Such a feature is treated as StandardScaler treats a constant one: scale 1.
        dead = scaler.scale_ < ROUND_OFF * np.sqrt(np.mean(X ** 2))
        scaler.scale_[dead] = 1.0
        final.fit(scaler.transform(X), y)
        self.pipeline_ = pipeline
        self.classes_ = self.pipeline_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self.pipeline_.predict_proba(self._matrix(X, check_width=True))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _matrix(self, X, check_width: bool = False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2:
            raise ValueError(f"embeddings must be (tracks, dims), got shape {X.shape}")
        if check_width and X.shape[1] != self.n_features_in_:
            raise ValueError(f"this model takes {self.n_features_in_}-dim {self.layer!r} embeddings, got {X.shape[1]}")
        if not np.all(np.isfinite(X)):
            raise ValueError("embeddings hold NaN or infinite values")
        return X

    @property
    def n_learned_weights(self) -> int:
        """Weights and biases fitted on the training tracks (the scaler's means and scales excluded)."""
        final = self.pipeline_[-1]
        if isinstance(final, MLPClassifier):
            return int(sum(w.size for w in final.coefs_) + sum(b.size for b in final.intercepts_))
        return int(final.coef_.size + final.intercept_.size)

    @property
    def embedding_config(self) -> EmbeddingConfig:
        return EmbeddingConfig(variant=self.variant, precision=self.precision)

    # ------------------------------------------------------------ files
    def save_model(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to ``path`` (skops, atomic) with its class list and embedding settings."""
        from muzo_lib.models.forest import library_versions

        if not hasattr(self, "pipeline_"):
            raise ValueError("cannot save an unfitted EmbeddingClassifier")
        payload = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "model": self,
                   "classes": [str(c) for c in self.classes_], "embedding": self.embedding_config.to_dict(),
                   "layer": self.layer, "versions": library_versions()}
        return save_skops(path, payload)

    @classmethod
    def load_model(cls, path: str | os.PathLike) -> "EmbeddingClassifier":
        """Read a model written by :meth:`save_model`.

        Raises:
            FileNotFoundError: no such file.
            EmbeddingModelError: not a Muzo embedding classifier, or it holds types outside
                :data:`TRUSTED_TYPES` (nothing from the file is run).
        """
        return load_skops(path, cls, TRUSTED_TYPES, MODEL_FORMAT, MODEL_FORMAT_VERSION, EmbeddingModelError, "embedding classifier")


def is_embedding_model(path: str | os.PathLike) -> bool:
    """True when ``path`` is a skops file holding a Muzo embedding classifier (read without loading it)."""
    return holds_format(path, MODEL_FORMAT)


class EmbeddingPredictor(PredictorBase):
    """A saved :class:`EmbeddingClassifier` with its embedder: waveforms -> genre probabilities.

    A :class:`muzo_lib.models.predictor.Predictor`: each file is embedded
    whole (its 3 s patches averaged, see :func:`embed`), then classified.

    Args:
        model: a fitted :class:`EmbeddingClassifier` (or a path to its ``.skops`` file).
        path: the file it came from.
        device: where musicnn runs: ``None`` (CUDA when present), ``"cpu"``, ``"cuda"``.
    """

    kind = "musicnn"
    sample_rate = SAMPLE_RATE

    #: longest excerpt scored per file, s (its centred part): bounds memory on long recordings
    max_seconds: float | None = 600.0
    #: seconds read from each file's start (``None``: all of it, up to :attr:`max_seconds`)
    duration: float | None = None
    #: genre only: no subgenre head
    tree = None
    #: audio per musicnn patch, s: the window ``muzo listen`` scores (a longer one would drop its tail)
    segment_seconds = PATCH_FRAMES * HOP_LENGTH / SAMPLE_RATE

    def __init__(self, model, path: str | os.PathLike | None = None, device: str | None = None):
        if not isinstance(model, EmbeddingClassifier):
            path = path or model
            model = EmbeddingClassifier.load_model(model)
        self.model = model
        self.classes = [str(c) for c in model.classes_]
        self.embedder = Embedder(EmbeddingConfig(model.variant, model.precision, device=device))
        self.path = Path(path) if path else None

    def prepare(self, waveform: np.ndarray) -> np.ndarray:
        """The track embedding vector of one mono 16 kHz waveform."""
        return track_features(self.embedder(waveform), self.model.layer)

    def predict_prepared(self, items: list[np.ndarray]) -> np.ndarray:
        if not len(items):
            return np.zeros((0, len(self.classes)))
        return self.model.predict_proba(np.stack(items))

    def run_probabilities(self, run, track_ids: list[str], progress: bool = False) -> np.ndarray:
        """From the run's musicnn embeddings, cached per track."""
        X = run_features(run, self.model.embedding_config, self.model.layer, progress)
        row = {t: i for i, t in enumerate(run.tracks.track_id)}
        return self.model.predict_proba(X[[row[t] for t in track_ids]])


def load_embedding_predictor(path: Path, device: str | None = None) -> EmbeddingPredictor:
    """The ``musicnn`` kind's loader (:mod:`muzo_lib.models.kinds`)."""
    return EmbeddingPredictor(path, device=device)


# ---------------------------------------------------------------- runs

def run_features(run, config: EmbeddingConfig | None = None, layer: str = "penultimate",
                 progress: bool = True) -> np.ndarray:
    """``(tracks, dims)`` embedding matrix of every usable track of a run, rows in ``run.tracks`` order."""
    outputs = run_embeddings(run, config, progress=progress)
    return np.stack([track_features(outputs[t], layer) for t in run.tracks.track_id])


def train_embedding_model(run, name: str = "musicnn", config: EmbeddingConfig | None = None,
                          layer: str = "penultimate", head: str = "logreg", C: float = 1.0, seed: int = 0,
                          save: bool = True, progress: bool = True, features: np.ndarray | None = None) -> dict:
    """Train an :class:`EmbeddingClassifier` on a run's ``train`` split and score ``valid`` and ``test``.

    Writes ``<run_dir>/models/<name>.skops`` and ``<run_dir>/metrics/<name>.json`` when ``save``;
    the metrics have the keys every Muzo model reports (``accuracy`` and ``macro_f1`` in
    percent on the test split at track level, ``n`` test tracks, ``accuracy_interval``).

    Args:
        run: a :class:`~muzo_lib.data.runs.RunData`.
        name: file stem for the model and its metrics.
        config: which musicnn and precision (default :class:`EmbeddingConfig`).
        layer: the embedding fed to the classifier (see :func:`track_features`).
        head, C: see :class:`EmbeddingClassifier`.
        seed: seeds the MLP head.
        features: :func:`run_features` of this run, if already computed.

    Returns:
        dict with ``model``, ``metrics`` (what the JSON holds), ``valid`` and ``test``
        (:func:`~muzo_lib.evaluation.metrics.classification_metrics` dicts), ``model_path``, ``metrics_path``.
    """
    from muzo_lib.data.runs import save_metrics, score_record

    config = config or EmbeddingConfig()
    start = time.perf_counter()
    X = features if features is not None else run_features(run, config, layer, progress)
    embed_seconds = time.perf_counter() - start
    if len(X) != len(run.tracks):
        raise ValueError(f"{len(X)} embedding rows for {len(run.tracks)} tracks")
    split = run.tracks.split.to_numpy()
    genres = run.tracks.genre.to_numpy()
    model = EmbeddingClassifier(head=head, C=C, variant=config.variant, layer=layer, precision=config.precision,
                                random_state=seed)
    start = time.perf_counter()
    model.fit(X[split == "train"], genres[split == "train"])
    fit_seconds = time.perf_counter() - start
    scores = {}
    for part in ("valid", "test"):
        rows = split == part
        predicted = model.predict(X[rows]) if rows.any() else np.array([], dtype=object)
        scores[part] = track_scores(genres[rows], predicted, run.classes)
    test = scores["test"]
    metrics = score_record(name, test, architecture="musicnn", accuracy_interval=test["accuracy_interval"],
                           valid_accuracy=scores["valid"]["accuracy"], head=head, C=C, layer=layer,
                           embedding=config.to_dict(), embedding_dims=int(X.shape[1]), classes=run.classes,
                           n_train=int((split == "train").sum()), embedding_time_s=embed_seconds,
                           training_time_s=fit_seconds, test_per_class=test["per_class"],
                           test_confusion=test["confusion"], seed=seed)
    model_path = metrics_path = None
    if save:
        model_path = model.save_model(run.run_dir / "models" / f"{name}.skops")
        metrics_path = save_metrics(run.run_dir, name, metrics)
    return {"model": model, "metrics": metrics, "valid": scores["valid"], "test": test,
            "model_path": model_path, "metrics_path": metrics_path}


def cv_folds(tracks, folds: int = 5, group_by: str = "track", seed: int = 0) -> np.ndarray:
    """The fold (0..folds-1) in which each track of ``tracks`` is tested: the library's one
    fold maker (:func:`muzo_lib.data.splits.grouped_folds`), stratified by genre, grouped by
    ``"track"`` or ``"artist"`` (a genre held by one artist is then never seen in training
    when it is tested) or ``"auto"``."""
    return _folds(tracks, folds, group_by, seed)[0]


def _folds(tracks, folds: int, group_by: str, seed: int) -> tuple[np.ndarray, str]:
    """:func:`cv_folds` and the protocol in words (:attr:`muzo_lib.data.splits.SplitInfo.note`)."""
    from muzo_lib.data.splits import grouped_folds

    table, info = grouped_folds(tracks, k=folds, seed=seed, group_by=group_by)
    return table.set_index("track_id").fold.loc[tracks.track_id].to_numpy(), info.note


def cross_validate(X: np.ndarray, genres, classes: list[str], fold: np.ndarray, estimator=None,
                   model: str = "", track_ids=None, protocol: str = "", settings: dict | None = None) -> CVResult:
    """Out-of-fold predictions of ``estimator`` (default :class:`EmbeddingClassifier`) on any feature matrix.

    For fold ``k`` a fresh clone is fitted on the rows whose ``fold != k`` and predicts the
    rows ``fold == k``, so every track is predicted once by a model that never saw it.

    Returns:
        a :class:`~muzo_lib.evaluation.metrics.CVResult`, rows in the order of ``X`` (``track_ids``:
        default ``0..n-1``), intervals bootstrapped with seed 0.
    """
    X, genres = np.asarray(X), np.asarray(genres)
    estimator = estimator if estimator is not None else EmbeddingClassifier()
    probabilities = np.zeros((len(X), len(classes)))
    for k in np.unique(fold):
        fitted = clone(estimator).fit(X[fold != k], genres[fold != k])
        columns = [classes.index(str(c)) for c in fitted.classes_]
        probabilities[np.ix_(fold == k, columns)] = fitted.predict_proba(X[fold == k])
    return CVResult.from_predictions(model or type(estimator).__name__, classes,
                                     np.arange(len(X)) if track_ids is None else track_ids, genres, probabilities,
                                     fold, protocol=protocol, settings=settings)


def cross_validate_embeddings(run, folds: int = 5, group_by: str = "track", config: EmbeddingConfig | None = None,
                              layer: str = "penultimate", head: str = "logreg", C: float = 1.0, seed: int = 0,
                              progress: bool = True, features: np.ndarray | None = None) -> CVResult:
    """k-fold cross-validation of the embedding classifier over ALL of a run's tracks (its split ignored).

    The honest score on a small dataset: every track is predicted once, and the interval
    is over all of them. See :func:`cv_folds` for ``group_by`` and :func:`cross_validate`
    for the result (rows in ``run.tracks`` order); ``folds``, ``group_by`` and ``layer`` are
    in its ``settings``.
    """
    config = config or EmbeddingConfig()
    X = features if features is not None else run_features(run, config, layer, progress)
    fold, protocol = _folds(run.tracks, folds, group_by, seed)
    estimator = EmbeddingClassifier(head=head, C=C, variant=config.variant, layer=layer,
                                    precision=config.precision, random_state=seed)
    return cross_validate(X, run.tracks.genre.to_numpy(), run.classes, fold, estimator, model="musicnn",
                          track_ids=run.tracks.track_id.to_numpy(),
                          protocol=protocol,
                          settings={"folds": folds, "group_by": group_by, "layer": layer, "head": head, "C": C})


def track_scores(genres, predicted, classes: list[str]) -> dict:
    """Track-level scores of genre names ``predicted`` against ``genres``: :func:`classification_metrics`
    plus the 95% bootstrap intervals every model reports (``accuracy_ci``, ``macro_f1_ci``,
    :func:`metric_intervals`; ``accuracy_interval`` is ``accuracy_ci`` as a list)."""
    index = {c: i for i, c in enumerate(classes)}
    y_true = np.array([index[str(g)] for g in genres], dtype=int)
    y_pred = np.array([index[str(g)] for g in predicted], dtype=int)
    scores = classification_metrics(y_true, y_pred, classes)
    ci = metric_intervals(y_true, y_pred, len(classes))
    scores["accuracy_ci"], scores["macro_f1_ci"] = ci["accuracy"], ci["macro_f1"]
    scores["accuracy_interval"] = list(ci["accuracy"])
    return scores
