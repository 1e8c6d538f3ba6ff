"""The one predictor protocol: what every loaded model offers, whatever its kind.

:class:`Predictor` is the interface that :func:`muzo_lib.inference.prediction.predict_files`,
:func:`~muzo_lib.inference.prediction.genre_over_time`, the streaming classifier, the ensemble and
:func:`muzo_lib.course.members.member_probabilities` call; nothing above asks what kind a
model is. :class:`PredictorBase` holds the parts that are the same for every kind, so a new
kind's predictor (see ``tests/fake_kind.py``) writes only ``prepare`` and ``predict_prepared``.
Every predictor of muzo_lib derives from it: the network and forest predictors
(:mod:`muzo_lib.inference.prediction`), the embedding classifier's (:mod:`muzo_lib.models.pretrained.classifier`)
and the ONNX one (:mod:`muzo_lib.inference.onnx_predictor`). This module imports numpy only (the ONNX
path stays torch-free).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Predictor(Protocol):
    """A loaded genre model.

    Attributes:
        kind: the :mod:`muzo_lib.models.kinds` name of the model (``"cnn"``, ``"rf"``...;
            an exported ``.onnx`` file says the kind it was exported from).
        classes: genre names, the column order of every probability array.
        tree: a two-level model's :class:`~muzo_lib.models.hierarchy.ClassTree` (``None``: genre only).
        sample_rate: rate the model expects, Hz (files are resampled to it on decoding).
        path: the model file it came from (``None`` if built in memory).
        duration: seconds read from the start of each file (``None``: all of it).
        max_seconds: longest excerpt scored per file, its centred part (``None``: no limit).
    """
    kind: str
    classes: list[str]
    tree: Any
    sample_rate: int
    path: Path | None
    duration: float | None
    max_seconds: float | None

    @property
    def name(self) -> str: ...

    def predict_waveforms(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """Genre probabilities ``(len(waveforms), len(classes))`` of mono float32 waveforms."""

    def prepare(self, waveform: np.ndarray) -> Any:
        """Per-file work that may run in a worker thread (a log-mel, descriptors, an embedding)."""

    def predict_prepared(self, items: list) -> np.ndarray:
        """Genre probabilities of items made by :meth:`prepare`."""

    def predict_prepared_levels(self, items: list) -> tuple[np.ndarray, np.ndarray | None]:
        """``(genre (n, G), subgenre (n, S) or None)`` probabilities of prepared items."""

    def predict_windows(self, waveform: np.ndarray, starts: list[int], window_seconds: float,
                        batch_windows: int = 16) -> np.ndarray:
        """Genre probabilities of the windows of ``window_seconds`` starting at sample ``starts``."""

    def prepare_errors(self) -> tuple[type[Exception], ...]:
        """Exceptions of :meth:`prepare` that mean "this file cannot be scored" (reported per file)."""

    def run_probabilities(self, run, track_ids: list[str], progress: bool = False) -> np.ndarray:
        """Genre probabilities ``(len(track_ids), len(classes))`` of tracks of a
        :class:`~muzo_lib.data.runs.RunData`, from the run's caches where the kind has one."""


class PredictorBase:
    """Defaults of :class:`Predictor` shared by every kind; subclasses set the attributes and
    write :meth:`prepare` and :meth:`predict_prepared` (or :meth:`predict_prepared_levels`)."""
    kind = "model"
    classes: list[str]
    tree = None
    sample_rate: int = 22050
    path: Path | None = None
    #: seconds read from the start of each file (``None``: all of it)
    duration: float | None = None
    #: longest excerpt scored per file, seconds (its centred part)
    max_seconds: float | None = None

    def prepare(self, waveform: np.ndarray):
        return waveform

    def predict_prepared(self, items: list) -> np.ndarray:
        return self.predict_prepared_levels(items)[0]

    def predict_prepared_levels(self, items: list) -> tuple[np.ndarray, np.ndarray | None]:
        return self.predict_prepared(items), None

    def predict_waveforms(self, waveforms: list[np.ndarray]) -> np.ndarray:
        return self.predict_prepared([self.prepare(y) for y in waveforms])

    def predict_windows(self, waveform: np.ndarray, starts: list[int], window_seconds: float,
                        batch_windows: int = 16) -> np.ndarray:
        win = int(round(window_seconds * self.sample_rate))
        windows = [waveform[s:s + win] for s in starts]
        return np.concatenate([self.predict_waveforms(windows[i:i + batch_windows])
                               for i in range(0, len(windows), batch_windows)])

    def prepare_errors(self) -> tuple[type[Exception], ...]:
        return ()

    def run_probabilities(self, run, track_ids: list[str], progress: bool = False) -> np.ndarray:
        """Default: decode each track's file and score it whole (kinds with a per-track cache
        in the run read that instead)."""
        from muzo_lib.io.audio import load_audio

        path_of = dict(zip(run.tracks.track_id, run.tracks.path))
        cap = self.max_seconds
        return self.predict_waveforms([load_audio(path_of[t], self.sample_rate, duration=self.duration,
                                                  max_seconds=cap) for t in track_ids])

    @property
    def name(self) -> str:
        return self.path.stem if self.path is not None else self.kind

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind}, {len(self.classes)} classes, {self.path})"
