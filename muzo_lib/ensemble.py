"""Fuse several models at the level of class probabilities, over one aligned class list.

Every member (CNN, hybrid, Random Forest, ...) gives a probability per genre; the
columns are first put in one shared class order (:func:`align_probabilities`), then
fused by :class:`ProbabilityFusion`:

- ``"mean"``: the plain average of the members' probabilities (nothing is fitted);
- ``"weighted"``: a weighted average whose weights (non-negative, summing to 1)
  minimise the log-loss on the **validation** split;
- ``"stacking"``: a logistic regression that reads the members' log-probabilities,
  fitted on the **validation** split.

A fusion is never fitted on the test split (:meth:`ProbabilityFusion.fit` refuses
``split="test"``): test tracks are scored once, by everything, at the end.

:func:`ensemble_predict` is the seed document's single-file entry point, done right:
each member's prediction plus the fused one, whose confidence is the fused probability
of the fused genre. (The seed averaged the members' top confidences, which may belong
to different genres and so describe no genre at all.)

Also here: :func:`train_member` trains and saves one model of any kind on a run, so a
notebook (or ``muzo train``) can build a member that an earlier notebook did not leave.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluation import classification_metrics

FUSION_METHODS = ("mean", "weighted", "stacking")


# ---------------------------------------------------------------- aligning classes

def align_probabilities(probs: np.ndarray, model_classes, classes) -> np.ndarray:
    """Reorder probability columns from ``model_classes`` to ``classes``.

    A genre of ``classes`` the model never saw gets probability 0.

    Raises:
        ValueError: the model predicts a genre outside ``classes`` (its probability
            would be lost), or the column count does not match ``model_classes``.
    """
    probs = np.asarray(probs, dtype=float)
    model_classes = [str(c) for c in model_classes]
    if probs.ndim != 2 or probs.shape[1] != len(model_classes):
        raise ValueError(f"probabilities of shape {probs.shape} do not match {len(model_classes)} model classes")
    unknown = sorted(set(model_classes) - set(classes))
    if unknown:
        raise ValueError(f"the model predicts genres outside the class list: {unknown}")
    out = np.zeros((len(probs), len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, index[c]] = probs[:, j]
    return out


# ---------------------------------------------------------------- fusion

class ProbabilityFusion:
    """Fuse members' class probabilities (scikit-learn style: ``fit`` then ``predict_proba``).

    Args:
        method: ``"mean"``, ``"weighted"`` or ``"stacking"`` (see the module doc).
        C: inverse regularisation strength of the stacking logistic regression (small
            validation sets need strong regularisation; 1.0 by default).
        seed: for the stacking solver.

    Attributes (after :meth:`fit`):
        members_: member names, in the order their probabilities are read.
        n_classes_: number of classes.
        weights_: ``{member: weight}`` (``"mean"``: equal; ``"weighted"``: learned;
            ``"stacking"``: ``None``).

    Example:
        >>> fusion = ProbabilityFusion("weighted").fit(valid_probs, y_valid)   # {name: (n, C)}
        >>> fusion.predict_proba(test_probs).argmax(1)
    """

    def __init__(self, method: str = "mean", C: float = 1.0, seed: int = 0):
        if method not in FUSION_METHODS:
            raise ValueError(f"unknown fusion method {method!r}; choose from {FUSION_METHODS}")
        self.method = method
        self.C = C
        self.seed = seed

    def fit(self, member_probs: dict[str, np.ndarray], y, split: str = "valid") -> "ProbabilityFusion":
        """Learn the fusion from the members' probabilities on held-out tracks.

        Args:
            member_probs: ``{member: (n_tracks, n_classes)}``, columns in one class order.
            y: true class indices ``(n_tracks,)``.
            split: which split these tracks are from; ``"test"`` is refused, because a
                fusion tuned on test tracks reports an optimistic test score.
        """
        if split == "test":
            raise ValueError("a fusion is never fitted on the test split: fit it on the validation split")
        stack = self._stack(member_probs, fitting=True)
        y = np.asarray(y, dtype=int)
        if len(y) != stack.shape[1]:
            raise ValueError(f"{stack.shape[1]} tracks of probabilities but {len(y)} labels")
        names = self.members_
        if self.method == "mean":
            self.weights_ = {n: 1.0 / len(names) for n in names}
        elif self.method == "weighted":
            self.weights_ = dict(zip(names, _log_loss_weights(stack, y)))
        else:
            from sklearn.linear_model import LogisticRegression

            self.stacker_ = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
            self.stacker_.fit(_stacking_features(stack), y)
            self.weights_ = None
        return self

    def predict_proba(self, member_probs: dict[str, np.ndarray]) -> np.ndarray:
        """Fused probabilities ``(n_tracks, n_classes)``; rows sum to 1."""
        if not hasattr(self, "members_"):
            raise ValueError("this ProbabilityFusion is not fitted yet: call fit() on the validation split")
        stack = self._stack(member_probs)
        if self.method != "stacking":
            fused = np.tensordot(np.array([self.weights_[n] for n in self.members_]), stack, axes=1)
        else:
            fused = np.zeros((stack.shape[1], self.n_classes_))
            fused[:, self.stacker_.classes_] = self.stacker_.predict_proba(_stacking_features(stack))
        return fused / fused.sum(axis=1, keepdims=True).clip(1e-12)

    def predict(self, member_probs: dict[str, np.ndarray]) -> np.ndarray:
        """Fused class indices ``(n_tracks,)``."""
        return self.predict_proba(member_probs).argmax(axis=1)

    def _stack(self, member_probs: dict, fitting: bool = False) -> np.ndarray:
        if not member_probs:
            raise ValueError("no member probabilities to fuse")
        if fitting:
            self.members_ = list(member_probs)
            self.n_classes_ = np.asarray(next(iter(member_probs.values()))).shape[1]
        missing = [n for n in self.members_ if n not in member_probs]
        if missing:
            raise ValueError(f"probabilities missing for member(s) {missing}")
        arrays = [np.asarray(member_probs[n], dtype=float) for n in self.members_]
        if any(a.ndim != 2 or a.shape != arrays[0].shape or a.shape[1] != self.n_classes_ for a in arrays):
            raise ValueError("every member needs probabilities of the same shape (n_tracks, n_classes); "
                             "align their classes first (align_probabilities)")
        return np.stack(arrays)


def _stacking_features(stack: np.ndarray) -> np.ndarray:
    """(members, n, C) -> (n, members * C) log-probabilities."""
    return np.log(np.clip(stack, 1e-6, 1.0)).transpose(1, 0, 2).reshape(stack.shape[1], -1)


def _log_loss_weights(stack: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Simplex weights minimising the mean log-loss of the weighted average (softmax
    parametrisation, L-BFGS from equal weights: deterministic)."""
    from scipy.optimize import minimize

    picked = stack[:, np.arange(len(y)), y]               # (members, n): each member's p(true class)

    def loss(theta):
        w = np.exp(theta - theta.max())
        w /= w.sum()
        return -np.mean(np.log(np.clip(w @ picked, 1e-12, None)))

    result = minimize(loss, np.zeros(len(stack)), method="L-BFGS-B")
    w = np.exp(result.x - result.x.max())
    return w / w.sum()


def fit_fusions(valid_probs: dict[str, np.ndarray], y_valid, methods=FUSION_METHODS, seed: int = 0,
                C: float = 1.0) -> dict[str, ProbabilityFusion]:
    """One :class:`ProbabilityFusion` per method, each fitted on the validation split."""
    return {f"fusion: {m}": ProbabilityFusion(m, C=C, seed=seed).fit(valid_probs, y_valid, split="valid")
            for m in methods}


# ---------------------------------------------------------------- scoring a run

def member_probabilities(run, members: dict, split: str, progress: bool = False) -> dict[str, np.ndarray]:
    """Each member's track-level probabilities on one split of a run, aligned to ``run.classes``.

    Args:
        run: a :class:`muzo_lib.runs.RunData`.
        members: ``{name: GenrePredictor}`` (from :func:`muzo_lib.prediction.load_model`).
        split: ``"train"``, ``"valid"`` or ``"test"``.

    Networks read the run's cached log-mels (made with their own :class:`MelConfig`);
    Random Forests read the run's cached features. Rows follow ``run.subset(split)``.
    """
    from .features import run_features
    from .prediction import ForestPredictor, NetworkPredictor

    part = run.subset(split)
    out = {}
    for name, member in members.items():
        if isinstance(member, NetworkPredictor):
            logmels = run.logmels(member.mel_config, progress=progress)
            missing = [t for t in part.track_id if t not in logmels]
            if missing:
                raise ValueError(f"{len(missing)} {split} tracks have no log-mel (undecodable): {missing[:3]}")
            probs = member.predict_logmels([logmels[t] for t in part.track_id])
        elif isinstance(member, ForestPredictor):
            table, errors = run_features(run, member.extractor, progress=progress)
            missing = [t for t in part.track_id if t not in table.index]
            if missing:
                raise ValueError(f"{len(missing)} {split} tracks have no features: {missing[:3]}")
            probs = member.model.predict_proba(table.loc[part.track_id, list(member.model.feature_names_in_)])
        else:
            raise TypeError(f"member {name!r}: expected a GenrePredictor, got {type(member).__name__}")
        out[name] = align_probabilities(probs, member.classes, run.classes)
    return out


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


def network_summary(metrics_by_name: dict[str, dict]) -> pd.DataFrame:
    """Side-by-side facts of trained networks, from their ``metrics/<name>.json``
    (:func:`muzo_lib.classifiers.train_on_run`): test accuracy and macro F1 (percent, track
    level), trainable parameters, mean seconds per epoch, training crops per second, epochs."""
    rows = {}
    for name, m in metrics_by_name.items():
        rows[name] = {"test accuracy %": m["accuracy"], "test macro F1 %": m["macro_f1"],
                      "parameters": m["parameters"], "s / epoch": float(np.mean(m["history"]["epoch_time"])),
                      "train crops / s": m.get("train_crops_per_s", float("nan")),
                      "epochs": m.get("epochs_trained"), "best epoch": m.get("best_epoch")}
    return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------- one file

def ensemble_predict(audio_file, models: dict, fusion: ProbabilityFusion | None = None,
                     classes: list[str] | None = None, top_k: int = 3) -> dict:
    """Every member's prediction of one file and the fused prediction.

    Args:
        audio_file: path of an audio file.
        models: ``{name: GenrePredictor or model path}``.
        fusion: a fitted :class:`ProbabilityFusion` over these members; ``None`` = plain mean.
        classes: the shared class order; default: the first member's classes plus any
            other member's extra ones, sorted.
        top_k: genres listed per prediction.

    Returns:
        ``{"models": {name: {"genre", "confidence", "top_k", "probabilities"}},
        "ensemble": {same keys, "method", "agreement"}}``. The ensemble's
        ``confidence`` is the fused probability of the fused genre; ``agreement`` is the
        share of members whose own top genre equals it.
    """
    from .audio import load_audio
    from .prediction import load_model, prediction_dict

    members = {n: (load_model(m) if isinstance(m, (str, os.PathLike)) else m) for n, m in models.items()}
    if not members:
        raise ValueError("ensemble_predict needs at least one model")
    if classes is None:
        classes = sorted(set().union(*(m.classes for m in members.values())))
    waves: dict[int, np.ndarray] = {}
    probs = {}
    for name, member in members.items():
        if member.sample_rate not in waves:
            waves[member.sample_rate] = load_audio(audio_file, member.sample_rate)
        raw = member.predict_waveforms([waves[member.sample_rate]])
        probs[name] = align_probabilities(raw, member.classes, classes)
    if fusion is None:
        fusion = ProbabilityFusion("mean").fit(probs, np.zeros(1, dtype=int))  # mean learns nothing
    fused = fusion.predict_proba(probs)[0]
    per_model = {n: prediction_dict(p[0], classes, top_k) for n, p in probs.items()}
    result = prediction_dict(fused, classes, top_k)
    result["method"] = fusion.method
    result["agreement"] = float(np.mean([r["genre"] == result["genre"] for r in per_model.values()]))
    return {"file": str(audio_file), "models": per_model, "ensemble": result}


def seed_style_confidence(per_model: dict) -> tuple[str, float]:
    """What the seed's ``ensemble_predict`` reported: the first member's genre and the
    average of every member's *own* top confidence, whatever genre each one picked.
    Kept only to show, in notebook 07, why it is wrong."""
    first = next(iter(per_model.values()))
    return first["genre"], float(np.mean([r["confidence"] for r in per_model.values()]))


# ---------------------------------------------------------------- building members

#: Where the course notebooks leave each model, relative to the run folder
#: (02: the Random Forest, 03: the CNN, 04: the hybrid; see ``classifiers.train_on_run``).
COURSE_MODELS = {"cnn": "models/cnn.pt", "hybrid": "models/hybrid.pt", "rf": "rf_model.skops"}


def course_model_path(run, architecture: str) -> Path:
    """The file where the course keeps ``architecture``'s model for this run."""
    if architecture not in COURSE_MODELS:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {sorted(COURSE_MODELS)}")
    return Path(run.run_dir) / COURSE_MODELS[architecture]


def ensure_course_model(run, architecture: str, **train_kwargs) -> Path:
    """The run's model of ``architecture``, trained now (with :func:`train_member` and
    ``train_kwargs``) only if an earlier notebook did not leave a usable one: missing,
    unreadable, or trained on other classes than this run's.

    Returns:
        The model file's path (see :data:`COURSE_MODELS`).
    """
    from .prediction import load_model

    path = course_model_path(run, architecture)
    if path.is_file():
        try:
            model = load_model(path, device="cpu")
            if model.classes == list(run.classes) and model.kind == architecture:
                return path
        except (ValueError, OSError):
            pass
    train_member(run, architecture, path=None, **train_kwargs)
    return path


def train_member(run, architecture: str, path: str | os.PathLike | None = None, seed: int | None = None,
                 train_config=None, mel_config=None, model_options: dict | None = None,
                 rf_params: dict | None = None, progress: bool = True, resume: bool | str = False) -> dict:
    """Train one model of any kind on a run's train split (selected on valid) and save it.

    Args:
        run: a :class:`muzo_lib.runs.RunData`.
        architecture: ``"cnn"``, ``"hybrid"`` (networks, trained by
            :func:`muzo_lib.classifiers.train_on_run`, the engine notebook 03 uses) or
            ``"rf"`` (a Random Forest on the run's cached hand-made features, as notebook 02).
        path: the model file to write (atomically); ``None``: the course's place in the
            run (:data:`COURSE_MODELS`; networks also write ``metrics/<architecture>.json``).
        seed: seeds weights, crops and forest; default: the run's split seed.
        train_config: a :class:`muzo_lib.training.TrainConfig` (library defaults if ``None``).
        mel_config: the log-mel settings (library defaults if ``None``).
        model_options: overrides of the network's config fields (e.g. ``{"rnn_hidden": 64}``).
        rf_params: :class:`MusicGenreClassifier` settings (``n_estimators=200`` by default).
        resume: networks: continue a killed training from the last checkpoint kept next to
            ``path`` (``cnn.pt`` -> ``cnn.last.pt``), see :func:`muzo_lib.training.fit`.

    Returns:
        dict: ``architecture``, ``path``, ``parameters`` (trainable weights; trees for the
        forest), ``training_time`` (s), ``valid`` and ``test`` (:func:`classification_metrics`
        at track level, percent); networks also ``seconds_per_epoch`` and ``history``.
    """
    from .paths import resolve_path

    if seed is None:
        seed = int(_run_seed(run))
    if architecture == "rf":
        target = resolve_path(path) if path is not None else course_model_path(run, "rf")
        return _train_forest(run, target, seed, rf_params or {}, progress)
    if architecture not in ("cnn", "hybrid"):
        raise ValueError(f"unknown architecture {architecture!r}; choose cnn, hybrid or rf")
    from .checkpoints import save_checkpoint
    from .classifiers import train_on_run
    from .spectrogram import MelConfig
    from .training import TrainConfig

    cfg = train_config or TrainConfig()
    cfg = type(cfg)(**{**cfg.to_dict(), "progress": progress})
    mel = mel_config or MelConfig()
    out = train_on_run(run, architecture, architecture, mel, cfg, model_options=model_options, seed=seed,
                       save=path is None, checkpoint_path=None if path is None else resolve_path(path), resume=resume)
    result = out["result"]
    if path is None:
        target = Path(out["checkpoint_path"])
    else:
        target = save_checkpoint(resolve_path(path), out["model"], mel, run.classes, cfg.segment_seconds,
                                 extra={"model_name": Path(path).stem, "history": result.history,
                                        "test_accuracy": out["test"]["accuracy"]})
    return {"architecture": architecture, "path": str(target), "parameters": out["metrics"]["parameters"],
            "seconds_per_epoch": float(np.mean(result.history["epoch_time"])),
            "training_time": result.training_time, "epochs_trained": result.epochs_trained,
            "history": result.history, "valid": out["valid"]["metrics"], "test": out["test"]["metrics"]}


def _train_forest(run, path: Path, seed: int, params: dict, progress: bool) -> dict:
    import time

    from .features import AudioFeatureExtractor, run_features
    from .forest import MusicGenreClassifier, feature_columns

    table, _ = run_features(run, AudioFeatureExtractor(), progress=progress)
    features = feature_columns(table)
    params = {"n_estimators": 200, "random_state": seed, **params}
    start = time.perf_counter()
    train = table[table.split == "train"]
    model = MusicGenreClassifier(**params).fit(train[features], train.genre)
    seconds = time.perf_counter() - start
    model.save_model(path)
    index = {c: i for i, c in enumerate(run.classes)}
    scores = {}
    for s in ("valid", "test"):
        part = table[table.split == s]
        if len(part):
            scores[s] = classification_metrics(part.genre.map(index), [index[g] for g in model.predict(part[features])],
                                               run.classes)
    return {"architecture": "rf", "path": str(path), "parameters": int(params["n_estimators"]),
            "training_time": seconds, **scores}


def _run_seed(run) -> int:
    import json

    meta = Path(run.run_dir) / "dataset.json"
    try:
        return int(json.loads(meta.read_text())["settings"]["seed"])
    except (OSError, ValueError, KeyError):
        return 0
