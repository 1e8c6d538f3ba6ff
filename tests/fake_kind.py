"""A model kind that lives outside muzo_lib: the training split's most common genre, always.

All that adding a kind takes: this module (train, cross-validate, load, recognise a file) and
one line, ``register_kind(KIND)``; the CLI (``muzo train --architecture majority``, ``muzo
predict``), the course (``train_member``, ``ensure_course_model``, ``cross_validate``,
``member_probabilities``) and ``load_model`` then take it like the built-in kinds
(``tests/test_model_kinds.py``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from muzo_lib.evaluation.metrics import classification_metrics, metric_intervals
from muzo_lib.io.paths import atomic_write
from muzo_lib.models.kinds import ModelKind
from muzo_lib.models.predictor import PredictorBase

FORMAT = "muzo-test-majority"


def majority_genre(genres) -> str:
    """The most common genre (the first in name order on a tie)."""
    names, counts = np.unique(np.asarray(genres, dtype=str), return_counts=True)
    return str(names[counts.argmax()])


def train_majority(run, path, seed: int, architecture: str = "majority", **_) -> dict:
    """Count the train split's genres, write the file, score valid and test as every kind does."""
    from muzo_lib.course.members import course_model_path

    genre = majority_genre(run.subset("train").genre)
    path = Path(path) if path is not None else course_model_path(run, architecture)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps({"format": FORMAT, "classes": run.classes,
                                                                    "genre": genre})))
    scores = {}
    for split in ("valid", "test"):
        y_true = run.labels(split)
        if len(y_true):
            y_pred = np.full(len(y_true), run.classes.index(genre))
            ci = metric_intervals(y_true, y_pred, len(run.classes), seed=seed)
            scores[split] = {**classification_metrics(y_true, y_pred, run.classes), "accuracy_ci": ci["accuracy"],
                             "macro_f1_ci": ci["macro_f1"]}
    return {"architecture": architecture, "path": str(path), "parameters": 0, "training_time": 0.0, **scores}


def majority_folds(run, seed: int, **_):
    """Per fold: the majority of the fold's train tracks, as one-hot probabilities of its test tracks."""
    def train_fold(fold_run, fold: int):
        tracks = fold_run.tracks
        test = tracks[tracks.split == "test"]
        probs = np.zeros((len(test), len(run.classes)))
        probs[:, run.classes.index(majority_genre(tracks.genre[tracks.split == "train"]))] = 1.0
        return list(test.track_id), probs

    return train_fold


class MajorityPredictor(PredictorBase):
    """Every file gets the same genre, with probability 1."""
    kind = "majority"

    def __init__(self, path: Path):
        facts = json.loads(Path(path).read_text())
        self.path, self.classes, self.genre = Path(path), list(facts["classes"]), facts["genre"]

    def prepare(self, waveform: np.ndarray) -> None:
        return None

    def predict_prepared(self, items: list) -> np.ndarray:
        probs = np.zeros((len(items), len(self.classes)))
        probs[:, self.classes.index(self.genre)] = 1.0
        return probs


def load_majority(path, device=None) -> MajorityPredictor:
    return MajorityPredictor(path)


def is_majority_file(path) -> bool:
    try:
        return json.loads(Path(path).read_text()).get("format") == FORMAT
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return False


KIND = ModelKind(name="majority", description="the training split's most common genre",
                 course_file="models/majority.json", suffixes=(".json",), network=False, subgenres=False,
                 train="tests.fake_kind:train_majority", cross_validate="tests.fake_kind:majority_folds",
                 load="tests.fake_kind:load_majority", recognizes="tests.fake_kind:is_majority_file")
