"""Predict with an exported ``.onnx`` Muzo network through onnxruntime, never importing torch.

It needs only numpy, onnxruntime, and (to decode files) soundfile + soxr: the
deployment install is ``pip install onnxruntime numpy soundfile soxr`` plus Muzo
itself without its dependencies (see the README). This module imports no muzo_lib module
that imports torch (a test checks ``sys.modules`` in a fresh process).

:class:`OnnxPredictor` has the interface of :class:`muzo_lib.prediction.GenrePredictor`
(``kind``, ``classes``, ``sample_rate``, ``path``, ``predict_waveforms``, ``prepare``,
``predict_prepared``), so :func:`muzo_lib.prediction.predict_files`,
:func:`muzo_lib.prediction.genre_over_time` and
:class:`muzo_lib.streaming.StreamingClassifier` take it like any other model, and
:func:`muzo_lib.prediction.load_model` returns one for ``.onnx`` files.

Example:
    >>> model = load_onnx_model("cnn.onnx")
    >>> model.predict_waveforms([y])          # y: mono float32 at model.sample_rate
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .numpy_frontend import NumpyLogMel, track_segments

FORMAT = "muzo-onnx"
SUPPORTED_VERSIONS = (1,)


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


class OnnxPredictor:
    """An exported network (:func:`muzo_lib.export.export_onnx`) run by onnxruntime.

    Each waveform becomes a numpy log-mel with the exported :class:`MelConfig` settings,
    is cut into the training crop's segments (:func:`track_segments`), and the segment
    probabilities are averaged per waveform: the same steps, in the same order, as
    :class:`muzo_lib.prediction.NetworkPredictor` in float32.

    Args:
        path: the ``.onnx`` file.
        batch_size: segments per onnxruntime call.
        threads: onnxruntime intra-op threads (``None``: its default, all cores).

    Raises:
        OnnxModelError: not an ONNX file, or one without Muzo's metadata.
    """

    #: longest excerpt scored per file, s (its centred part), as for the torch network
    max_seconds: float | None = 600.0
    #: exported networks are genre-only (two-level ones are refused by the export)
    tree = None

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
        self.mel_settings = json.loads(meta["mel_config"])
        self.sample_rate = int(self.mel_settings["sample_rate"])
        self.segment_seconds = float(meta["segment_seconds"])
        self.frames = int(meta["frames"])
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

    # -- the GenrePredictor interface

    def logmel(self, waveform: np.ndarray) -> np.ndarray:
        """dB log-mel ``(n_mels, frames)`` of one mono waveform at :attr:`sample_rate`."""
        return self.front_end(waveform)

    def prepare(self, waveform: np.ndarray) -> np.ndarray:
        return self.logmel(waveform)

    def predict_logmels(self, logmels: list[np.ndarray]) -> np.ndarray:
        """Probabilities ``(len(logmels), n_classes)``: segment probabilities averaged per log-mel."""
        if not logmels:
            return np.zeros((0, len(self.classes)))
        segments = [track_segments(np.asarray(m, dtype=np.float32), self.frames) for m in logmels]
        owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(segments)])
        stacked = np.concatenate(segments)
        probs = np.concatenate([self.session.run(None, {self.input_name: stacked[s:s + self.batch_size]})[0]
                                for s in range(0, len(stacked), self.batch_size)]).astype(np.float64)
        sums = np.zeros((len(logmels), probs.shape[1]))
        np.add.at(sums, owner, probs)
        return sums / np.bincount(owner, minlength=len(logmels))[:, None]

    predict_prepared = predict_logmels

    def predict_waveforms(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """Class probabilities ``(len(waveforms), n_classes)`` of mono float32 waveforms at
        :attr:`sample_rate` (any lengths; each is scored whole)."""
        return self.predict_logmels([self.logmel(y) for y in waveforms])

    @property
    def name(self) -> str:
        return self.path.stem

    def __repr__(self) -> str:
        return f"OnnxPredictor({self.kind}, {len(self.classes)} classes, {self.path})"


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
