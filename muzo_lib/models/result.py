"""One prediction result type for every path that predicts a genre.

:class:`Prediction` is what ``muzo predict`` prints, what the Python API returns, and
what the seed-compatible dictionaries (``predicted_genre``/``all_probabilities``) are
derived from. It needs only numpy, so torch-free deployments can use it too.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Prediction:
    """What every prediction path returns for one file: the CLI, the Python API, the
    seed-style :class:`~muzo_lib.course.classifiers.CNNMusicClassifier` and the forest's
    single-track form all derive their output from this one record.

    Attributes:
        path: the file (or a name for an in-memory waveform).
        genre: the predicted genre; ``None`` when the file could not be read.
        confidence: the predicted genre's own probability (0-1).
        top_k: ``[(genre, probability), ...]``, best first.
        probabilities: ``{genre: probability}`` in the model's class order.
        seconds: audio length that was scored, s.
        warning: ``None``, or why the audio cannot carry a genre (``"silent"``...): then
            the file was not scored and ``genre`` is ``None`` (see :meth:`no_signal`).
        error: ``None``, or a one-line reason the file could not be predicted.
        subgenre: the predicted subgenre, always one of the predicted genre's (its folder name,
            ``"ska"`` for ``reggae/ska``); ``None`` for a genre-only model or a genre without subgenres.
        subgenre_confidence: its probability *given the genre* (0-1).
        subgenre_top_k: ``[(subgenre, probability given the genre), ...]`` inside the genre, best first.
    """
    path: str
    genre: str | None = None
    confidence: float | None = None
    top_k: list[tuple[str, float]] | None = None
    probabilities: dict[str, float] | None = None
    seconds: float | None = None
    warning: str | None = None
    error: str | None = None
    subgenre: str | None = None
    subgenre_confidence: float | None = None
    subgenre_top_k: list[tuple[str, float]] | None = None

    @classmethod
    def from_probabilities(cls, probs, classes: list[str], top_k: int = 3, subgenre_probabilities=None,
                           **fields) -> "Prediction":
        """The prediction a probability vector makes; its confidence is the probability
        of the predicted genre itself (never a number belonging to another genre).

        Args:
            subgenre_probabilities: a two-level model's subgenre probabilities ``{"genre/subgenre": p}``
                (any genres); the subgenre is then the best one *inside the predicted genre*, its
                confidence its share of that genre's subgenre mass.
        """
        probs = np.asarray(probs, dtype=float)
        order = np.argsort(-probs, kind="stable")
        genre = classes[order[0]]
        subs = {}
        for name, p in (subgenre_probabilities or {}).items():
            parent, _, leaf = name.partition("/")
            if parent == genre:
                subs[leaf] = float(p)
        ranked = sorted(subs.items(), key=lambda kv: -kv[1])
        mass = sum(subs.values())
        ranked = [(leaf, p / mass if mass > 0 else 1 / len(ranked)) for leaf, p in ranked]
        return cls(genre=genre, confidence=float(probs[order[0]]),
                   top_k=[(classes[i], float(probs[i])) for i in order[:top_k]],
                   probabilities={c: float(p) for c, p in zip(classes, probs)},
                   subgenre=ranked[0][0] if ranked else None, subgenre_confidence=ranked[0][1] if ranked else None,
                   subgenre_top_k=ranked[:top_k] if ranked else None, **{"path": "", **fields})

    @property
    def label(self) -> str | None:
        """``"genre / subgenre"`` (or the genre alone) for tables and logs."""
        return self.genre if self.subgenre is None else f"{self.genre} / {self.subgenre}"

    @classmethod
    def no_signal(cls, classes: list[str], warning: str, **fields) -> "Prediction":
        """The answer for audio without a usable signal: no genre, uniform probabilities,
        confidence ``1 / n_classes`` (chance), and the ``warning`` that says why."""
        uniform = 1.0 / len(classes)
        return cls(genre=None, confidence=uniform, top_k=[], probabilities=dict.fromkeys(classes, uniform),
                   warning=warning, **{"path": "", **fields})

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        """JSON-ready (``muzo predict --json``): ``file``, ``genre``, ``confidence``,
        ``top_k`` as ``[{"genre", "probability"}]``, ``probabilities``, ``seconds``, ``warning``, ``error``,
        ``subgenre``, ``subgenre_confidence`` and ``subgenre_top_k`` as ``[{"subgenre",
        "probability"}]`` (null for a genre-only model)."""
        out = asdict(self)
        out["file"] = out.pop("path")
        if self.top_k is not None:
            out["top_k"] = [{"genre": g, "probability": p} for g, p in self.top_k]
        if self.subgenre_top_k is not None:
            out["subgenre_top_k"] = [{"subgenre": s, "probability": p} for s, p in self.subgenre_top_k]
        return {"file": out.pop("file"), **out}

    def to_seed_dict(self) -> dict:
        """The seed document's form: ``predicted_genre``, ``confidence``, ``probabilities``
        and ``all_probabilities`` (the same table, under the seed's second name), plus ``seconds``
        when known, and for a two-level model ``predicted_subgenre``, ``subgenre_confidence`` and
        ``subgenre_top_k`` (``[(subgenre, probability given the genre)]``)."""
        if not self.ok:
            raise ValueError(f"{self.path}: {self.error}")
        out = {"predicted_genre": self.genre, "confidence": self.confidence,
               "probabilities": dict(self.probabilities), "all_probabilities": dict(self.probabilities)}
        if self.subgenre is not None:
            out.update(predicted_subgenre=self.subgenre, subgenre_confidence=self.subgenre_confidence,
                       subgenre_top_k=list(self.subgenre_top_k))
        return out if self.seconds is None else {**out, "seconds": self.seconds}
