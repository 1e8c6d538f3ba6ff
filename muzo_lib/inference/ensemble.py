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

Which members a run has, and their probabilities on a split, come from
:mod:`muzo_lib.course.members`.
"""
from __future__ import annotations

import os

import numpy as np

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
        ``{"file", "models": {name: Prediction}, "ensemble": Prediction, "method",
        "agreement"}`` (:class:`muzo_lib.inference.prediction.Prediction`). The ensemble's
        ``confidence`` is the fused probability of the fused genre; ``agreement`` is the
        share of members whose own top genre equals it. Audio without a signal (silence, DC,
        a fraction of a second) is not scored: every prediction then has no genre and a ``warning``.
    """
    from muzo_lib.inference.prediction import load_model
    from muzo_lib.io.audio import load_audio, signal_problem
    from muzo_lib.models.result import Prediction

    members = {n: (load_model(m) if isinstance(m, (str, os.PathLike)) else m) for n, m in models.items()}
    if not members:
        raise ValueError("ensemble_predict needs at least one model")
    if classes is None:
        classes = sorted(set().union(*(m.classes for m in members.values())))
    waves: dict[int, np.ndarray] = {}
    probs = {}
    for name, member in members.items():
        if member.sample_rate not in waves:
            y = waves[member.sample_rate] = load_audio(audio_file, member.sample_rate, max_seconds=member.max_seconds)
            warning = signal_problem(y, member.sample_rate)
            if warning:  # no signal, no genre: nobody votes
                silent = Prediction.no_signal(classes, warning, path=str(audio_file), seconds=len(y) / member.sample_rate)
                return {"file": str(audio_file), "models": dict.fromkeys(members, silent), "ensemble": silent,
                        "method": fusion.method if fusion else "mean", "agreement": float("nan")}
        raw = member.predict_waveforms([waves[member.sample_rate]])
        probs[name] = align_probabilities(raw, member.classes, classes)
    if fusion is None:
        fusion = ProbabilityFusion("mean").fit(probs, np.zeros(1, dtype=int))  # mean learns nothing
    fused = fusion.predict_proba(probs)[0]
    seconds = len(next(iter(waves.values()))) / next(iter(waves))
    per_model = {n: Prediction.from_probabilities(p[0], classes, top_k, path=str(audio_file), seconds=seconds)
                 for n, p in probs.items()}
    result = Prediction.from_probabilities(fused, classes, top_k, path=str(audio_file), seconds=seconds)
    agreement = float(np.mean([r.genre == result.genre for r in per_model.values()]))
    return {"file": str(audio_file), "models": per_model, "ensemble": result, "method": fusion.method,
            "agreement": agreement}


def averaged_top_confidence(per_model: dict) -> tuple[str, float]:
    """What the seed document's ``ensemble_predict`` reported: the first member's genre
    and the average of every member's *own* top confidence, whatever genre each one
    picked. Kept only to show, in notebook 07, why it is wrong."""
    first = next(iter(per_model.values()))
    return first.genre, float(np.mean([r.confidence for r in per_model.values()]))
