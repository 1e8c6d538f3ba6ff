"""Predict with an exported ``.onnx`` Muzo model through onnxruntime, never importing torch.

The model is a network (genre-only or two-level) or a musicnn embedding classifier (see
:mod:`muzo_lib.inference.export` for what each file holds).

It needs only numpy, onnxruntime, and (to decode files) soundfile + soxr: the
deployment install is ``pip install onnxruntime numpy soundfile soxr`` plus Muzo
itself without its dependencies (see the README). This module imports no muzo_lib module
that imports torch or scikit-learn (a test checks ``sys.modules`` in a fresh process).

:class:`OnnxPredictor` is a :class:`muzo_lib.models.predictor.Predictor` like every loaded model
(``kind``, ``classes``, ``tree``, ``sample_rate``, ``path``, ``predict_waveforms``, ``prepare``,
``predict_prepared``, ``predict_prepared_levels``, ``run_probabilities``...), so :func:`muzo_lib.inference.prediction.predict_files`,
:func:`muzo_lib.inference.prediction.genre_over_time` and
:class:`muzo_lib.inference.streaming.StreamingClassifier` take it like any other model, and
:func:`muzo_lib.inference.prediction.load_model` returns one for ``.onnx`` files.

Example:
    >>> model = load_onnx_model("cnn.onnx")
    >>> model.predict_waveforms([y])          # y: mono float32 at model.sample_rate
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from muzo_lib.features.numpy_frontend import NumpyLogMel, track_segments, whole_patches
from muzo_lib.models.hierarchy import ClassTree, genre_probabilities
from muzo_lib.models.predictor import PredictorBase

FORMAT = "muzo-onnx"
SUPPORTED_VERSIONS = (1, 2)


class OnnxModelError(ValueError):
    """A file that is not an ONNX model exported by Muzo (one line)."""


def looks_like_onnx(path: str | os.PathLike) -> bool:
    """True for a ``.onnx`` name, or a file whose first bytes read as an ONNX protobuf.

    An ONNX ``ModelProto`` starts with field 1 (``ir_version``, varint: byte ``0x08``) and
    a small version number; Muzo's other model files are zip archives (``PK``).
    """
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x08 and 3 <= head[1] <= 20


class OnnxPredictor(PredictorBase):
    """An exported model (:func:`muzo_lib.inference.export.export_onnx`) run by onnxruntime.

    Each waveform becomes a numpy log-mel with the exported :class:`MelConfig` settings and
    is cut into segments, the same steps, in the same order, as the model's torch predictor
    in float32:

    - a network (CNN, hybrid): the training crop's segments (:func:`track_segments`), whose
      probabilities are averaged per waveform (:class:`muzo_lib.inference.prediction.NetworkPredictor`);
      a two-level network's two outputs are averaged alike, then decoded with its class tree
      (:attr:`tree`) and decoder;
    - a musicnn embedding classifier: 3 s patches (:func:`whole_patches`), whose embeddings
      the graph itself averages per waveform before classifying them
      (:class:`muzo_lib.models.pretrained.classifier.EmbeddingPredictor`).

    Args:
        path: the ``.onnx`` file.
        batch_size: segments per onnxruntime call.
        threads: onnxruntime intra-op threads (``None``: its default, all cores).

    Raises:
        OnnxModelError: not an ONNX file, or one without Muzo's metadata.
    """

    #: longest excerpt scored per file, s (its centred part), as for the torch network
    max_seconds: float | None = 600.0
    #: a two-level network's class tree (``None``: genre only)
    tree: ClassTree | None = None

    def __init__(self, path: str | os.PathLike, batch_size: int = 64, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise OnnxModelError("onnxruntime is not installed: pip install onnxruntime (or muzo[onnx])") from None
        self.path = Path(path)
        self.session = self._session(ort, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("muzo_format") != FORMAT:
            raise OnnxModelError(f"{self.path.name}: an ONNX model, but not one exported by Muzo "
                                 "(no muzo_format metadata; make one with `muzo export`)")
        version = int(meta.get("muzo_version", "0"))
        if version not in SUPPORTED_VERSIONS:
            raise OnnxModelError(f"{self.path.name}: Muzo ONNX format version {version}; this Muzo reads "
                                 f"{list(SUPPORTED_VERSIONS)}")
        self.metadata = dict(meta)
        self.kind = meta["kind"]
        self.classes = list(json.loads(meta["classes"]))
        if meta.get("class_tree"):   # a genre head and a subgenre head
            self.tree = ClassTree.from_dict(json.loads(meta["class_tree"]))
            self.decoder = meta["decoder"]
        self.mel_settings = json.loads(meta["mel_config"])
        self.sample_rate = int(self.mel_settings["sample_rate"])
        self.segment_seconds = float(meta["segment_seconds"])
        self.frames = int(meta["frames"])
        self.segmenting = meta.get("segmenting", "track")        # version 1 files: networks
        self.pooling = meta.get("pooling", "probabilities")
        self.duration = json.loads(meta.get("duration", "null"))  # seconds from the start, as trained (None: all)
        self.batch_size = batch_size
        self.front_end = NumpyLogMel.from_settings(self.mel_settings)
        self.input_name = self.session.get_inputs()[0].name

    def _session(self, ort, threads: int | None):
        options = ort.SessionOptions()
        options.log_severity_level = 3          # errors only: no start-up chatter on stderr
        # Idle worker threads sleep instead of spinning: they otherwise take the CPU the numpy
        # front end needs. Measured for one 30 s file at load ~10 on 2 cores: 90 -> 56 ms.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types, with multi-line messages
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OnnxModelError(f"{self.path.name}: not a readable ONNX model ({first[:160]})") from None

    def set_threads(self, threads: int | None) -> None:
        """Re-open the session with ``threads`` intra-op threads (``None``: onnxruntime's default)."""
        import onnxruntime as ort

        self.session = self._session(ort, threads)

    # -- the Predictor interface

    def logmel(self, waveform: np.ndarray) -> np.ndarray:
        """Log-mel ``(n_mels, frames)`` of one mono waveform at :attr:`sample_rate` (dB, or
        musicnn's scale; a clip shorter than one musicnn patch is padded with zeros to one)."""
        if self.segmenting == "patches":
            y = np.asarray(waveform, dtype=np.float32).reshape(-1)
            shortest = (self.frames - 1) * self.front_end.hop_length
            waveform = np.pad(y, (0, shortest - len(y))) if len(y) < shortest else y
        return self.front_end(waveform)

    def prepare(self, waveform: np.ndarray) -> np.ndarray:
        return self.logmel(waveform)

    def predict_logmels(self, logmels: list[np.ndarray]) -> np.ndarray:
        """Probabilities ``(len(logmels), n_classes)`` of log-mels: for a two-level network the
        genre probabilities its decoder reports (see :meth:`predict_levels`)."""
        return self.predict_levels(logmels)[0]

    def predict_levels(self, logmels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(genre (n, G), subgenre (n, S) or None)`` probabilities of log-mels.

        A network's segment outputs are averaged per log-mel; a musicnn graph takes the
        per-log-mel averaging weights itself (``track_weights``) and returns one row each.
        """
        n_outputs = len(self.session.get_outputs())
        if not logmels:
            return np.zeros((0, len(self.classes))), None if self.tree is None else np.zeros((0, len(self.tree.subgenres)))
        cut = whole_patches if self.segmenting == "patches" else track_segments
        segments = [cut(np.asarray(m, dtype=np.float32), self.frames) for m in logmels]
        owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(segments)])
        stacked = np.concatenate(segments)
        if self.pooling == "embeddings":
            outputs = [self._run_tracks(stacked, owner, first, last) for first, last in self._track_batches(segments)]
        else:
            outputs = [self.session.run(None, {self.input_name: stacked[s:s + self.batch_size]})
                       for s in range(0, len(stacked), self.batch_size)]
        levels = []
        for k in range(n_outputs):
            probs = np.concatenate([out[k] for out in outputs]).astype(np.float64)
            if self.pooling != "embeddings":      # segment rows -> the mean of each log-mel's
                sums = np.zeros((len(logmels), probs.shape[1]))
                np.add.at(sums, owner, probs)
                probs = sums / np.bincount(owner, minlength=len(logmels))[:, None]
            levels.append(probs)
        if self.tree is None:
            return levels[0], None
        return genre_probabilities(levels[0], levels[1], self.tree, self.decoder), levels[1]

    def _track_batches(self, segments: list[np.ndarray]):
        """``(first, last)`` log-mel ranges of about :attr:`batch_size` patches (one log-mel at least)."""
        first, count = 0, 0
        for i, s in enumerate(segments):
            if count and count + len(s) > self.batch_size:
                yield first, i
                first, count = i, 0
            count += len(s)
        yield first, len(segments)

    def _run_tracks(self, stacked: np.ndarray, owner: np.ndarray, first: int, last: int) -> list[np.ndarray]:
        """The musicnn graph on the patches of log-mels ``first..last-1``: one row per log-mel."""
        rows = (owner >= first) & (owner < last)
        mine = owner[rows] - first
        weights = np.zeros((last - first, len(mine)), dtype=np.float32)
        weights[mine, np.arange(len(mine))] = 1.0 / np.bincount(mine)[mine]
        return self.session.run(None, {self.input_name: stacked[rows], "track_weights": weights})

    predict_prepared = predict_logmels
    predict_prepared_levels = predict_levels

    def predict_waveforms(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """Class probabilities ``(len(waveforms), n_classes)`` of mono float32 waveforms at
        :attr:`sample_rate` (any lengths; each is scored whole)."""
        return self.predict_logmels([self.logmel(y) for y in waveforms])



def load_onnx_model(path: str | os.PathLike, **kwargs) -> OnnxPredictor:
    """Open an exported Muzo ``.onnx`` file (see :class:`OnnxPredictor` for ``kwargs``).

    Raises:
        FileNotFoundError: no such file.
        OnnxModelError: the file is not a Muzo ONNX model (one line).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    return OnnxPredictor(path, **kwargs)


def load_onnx_predictor(path: Path, device=None) -> OnnxPredictor:
    """The ``onnx`` kind's loader (:mod:`muzo_lib.models.kinds`): onnxruntime runs on the CPU, ``device`` is unused."""
    return OnnxPredictor(path)
