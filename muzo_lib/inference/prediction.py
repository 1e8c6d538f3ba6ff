"""Predict genres of new audio with any saved Muzo model, one file, a folder or a long recording.

:func:`load_model` opens a model file of any kind (a CNN or hybrid network checkpoint
``.pt``, a Random Forest ``.skops`` file, an exported ``.onnx`` network...: the kinds of
:mod:`muzo_lib.models.kinds`) and returns a :class:`~muzo_lib.models.predictor.Predictor` with one
interface: ``classes`` and ``predict_waveforms(list of waveforms) -> (n, n_classes)``.
Importing this module does not import torch (networks import it when loaded), so the
``.onnx`` path stays torch-free.
On top of it:

- :func:`predict_files`: many files, decoded in threads, the segments of several files
  scored in one batch, one :class:`~muzo_lib.models.result.Prediction` per file
  (an unreadable file gets its ``error`` instead of stopping the batch), with a progress bar;
- :func:`genre_over_time`: a sliding window over a long recording (:func:`genre_windows` without pandas);

Example:
    >>> model = load_model("runs/course/models/cnn.pt")
    >>> results = predict_files(model, expand_inputs(["song.wav", "my_music/"]), top_k=3)
    >>> results[0].genre, results[0].confidence     # a Prediction; .to_dict() for JSON
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a table is made: the .onnx JSON path never needs it
    import pandas as pd

from muzo_lib.io.audio import AUDIO_EXTENSIONS, AudioDecodeError, load_audio, signal_problem
from muzo_lib.io.progress import progress_bar
from muzo_lib.models.kinds import kind_of_file
from muzo_lib.models.predictor import Predictor, PredictorBase
from muzo_lib.models.result import Prediction


class ModelLoadError(ValueError):
    """A path that is not a usable Muzo model file (one line)."""


# ---------------------------------------------------------------- predictors

class GenrePredictor(PredictorBase):
    """The base of the predictors loaded here (:class:`~muzo_lib.models.predictor.PredictorBase`
    under its historical name); the interface is :class:`~muzo_lib.models.predictor.Predictor`."""


class NetworkPredictor(GenrePredictor):
    """A CNN or hybrid network from a checkpoint (:mod:`muzo_lib.training.checkpoints`).

    Each waveform becomes a float32 log-mel with the checkpoint's :class:`MelConfig`,
    is cut into consecutive segments of the training crop length (3 s by default; the
    tail as in :func:`muzo_lib.training.loop.track_segments`), and the segment probabilities
    are averaged per file, exactly as tracks are scored in training.

    Files longer than :attr:`max_seconds` (10 minutes) are scored on their centred
    10 minutes: 200 segments of 3 s say what a genre is, and memory stays bounded
    (decoding is block-wise; see :func:`muzo_lib.io.audio.load_audio`).

    Args:
        checkpoint: a loaded :class:`muzo_lib.training.checkpoints.Checkpoint`.
        device: ``None``/``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``.
        precision: autocast for the network (``"auto"``: bf16 where the CPU/GPU has it).
        batch_size: segments per forward pass.
    """

    max_seconds = 600.0

    def __init__(self, checkpoint, device=None, precision="auto", batch_size: int = 64, path=None):
        from muzo_lib.features.spectrogram import LogMelSpectrogram
        from muzo_lib.models.devices import resolve_device

        self.checkpoint = checkpoint
        self.model = checkpoint.model.eval()
        self.kind = checkpoint.architecture
        self.classes = list(checkpoint.classes)
        self.mel_config = checkpoint.mel_config
        self.sample_rate = self.mel_config.sample_rate
        self.segment_seconds = checkpoint.segment_seconds
        self.frames = self.mel_config.frames(self.segment_seconds)
        self.device = resolve_device(device)
        self.precision = precision
        self.batch_size = batch_size
        self.front_end = LogMelSpectrogram(self.mel_config)
        self.path = Path(path) if path else None
        self.duration = checkpoint.extra.get("duration") or None
        self.tree, self._two_level = None, None
        if checkpoint.extra.get("class_tree"):  # two levels: genre head + subgenre head
            from muzo_lib.models.hierarchy import DEFAULT_DECODER, ClassTree, TwoLevelLoss

            self.tree = ClassTree.from_dict(checkpoint.extra["class_tree"])
            if self.tree.output_names != self.classes:
                raise ValueError(f"{self.path}: its class tree does not match its {len(self.classes)} outputs")
            self._two_level = TwoLevelLoss(self.tree)
            self.classes = list(self.tree.genres)
            self.decoder = checkpoint.extra.get("decoder", DEFAULT_DECODER)

    def logmel(self, waveform: np.ndarray) -> np.ndarray:
        """dB log-mel ``(n_mels, frames)`` of one waveform (float32), computed in chunks so a
        long recording needs no padded copy of itself (:meth:`LogMelSpectrogram.forward_long`)."""
        import torch  # here, not at the top: the .onnx path through this module never imports torch

        with torch.inference_mode():
            return self.front_end.forward_long(torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))).numpy()

    def prepare(self, waveform: np.ndarray) -> np.ndarray:
        return self.logmel(waveform)

    def predict_logmels(self, logmels: list[np.ndarray]) -> np.ndarray:
        """Probabilities ``(len(logmels), n_classes)``: every segment of every log-mel is
        scored in batches of :attr:`batch_size`, then averaged per log-mel. For a two-level
        model these are the genre probabilities its decoder reports
        (:func:`muzo_lib.models.hierarchy.genre_probabilities`)."""
        return self.predict_levels(logmels)[0]

    def predict_levels(self, logmels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """``(genre (n, G), subgenre (n, S) or None)`` probabilities of log-mels (see :meth:`predict_logmels`)."""
        from muzo_lib.evaluation.metrics import track_probabilities
        from muzo_lib.training.loop import predict_segments

        if not logmels:
            return np.zeros((0, len(self.classes))), None if self.tree is None else np.zeros((0, len(self.tree.subgenres)))
        seg_probs, owner = predict_segments(self.model, logmels, self.frames, self.device, self.batch_size,
                                            self.precision, probabilities=self._two_level and self._two_level.probabilities)
        _, probs = track_probabilities(seg_probs, owner)
        if self.tree is None:
            return probs, None
        from muzo_lib.models.hierarchy import genre_probabilities

        p_genre, p_sub = self.tree.split_probabilities(probs)
        return genre_probabilities(p_genre, p_sub, self.tree, self.decoder), p_sub

    predict_prepared = predict_logmels
    predict_prepared_levels = predict_levels

    def predict_waveforms(self, waveforms: list[np.ndarray]) -> np.ndarray:
        return self.predict_logmels([self.logmel(y) for y in waveforms])

    def predict_windows(self, waveform: np.ndarray, starts: list[int], window_seconds: float,
                        batch_windows: int = 16) -> np.ndarray:
        """One log-mel for the whole recording, sliced per window (frames of centred STFTs)."""
        logmel = self.logmel(waveform)
        hop, width = self.mel_config.hop_length, self.mel_config.frames(window_seconds)
        return self.predict_logmels([logmel[:, s // hop:s // hop + width] for s in starts])

    def run_probabilities(self, run, track_ids: list[str], progress: bool = False) -> np.ndarray:
        """From the run's cached log-mels made with this network's :class:`MelConfig`."""
        logmels = run.logmels(self.mel_config, progress=progress)
        missing = [t for t in track_ids if t not in logmels]
        if missing:
            raise ValueError(f"{len(missing)} tracks have no log-mel (undecodable): {missing[:3]}")
        from muzo_lib.features.cache import KeyedSequence

        return self.predict_logmels(KeyedSequence(logmels, track_ids))   # read one track at a time

    def attention(self, logmel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hybrid networks only: attention weights over time for each segment of ``logmel``.

        Returns:
            ``(weights (n_segments, steps), starts (n_segments,))``: each row sums to 1;
            step ``j`` of segment ``i`` covers input frames ``starts[i] + j * frames_per_step``
            onward (see :meth:`HybridCNNRNN.frames_per_step`).
        """
        import torch

        from muzo_lib.training.loop import track_segments

        if self.kind != "hybrid":
            raise ValueError(f"attention weights exist only for hybrid networks, this is a {self.kind}")
        segments = track_segments(np.asarray(logmel, dtype=np.float32), self.frames)
        length = logmel.shape[-1]
        starts = np.arange(len(segments)) * self.frames
        if len(segments) > 1 and starts[-1] + self.frames > length:
            starts[-1] = length - self.frames
        self.model.float().to("cpu")
        with torch.inference_mode():
            _, weights = self.model(torch.from_numpy(segments), return_attention=True)
        return weights.float().numpy(), starts


class ForestPredictor(GenrePredictor):
    """A Random Forest (:class:`muzo_lib.models.forest.MusicGenreClassifier`) with the feature
    extractor its feature names imply (the ``extra_*`` descriptors on or off).

    Files longer than :attr:`max_seconds` (2 minutes) are described by their centred
    2 minutes: the descriptors are means and variances over frames, stable well before
    that, while their working memory grows with length (about 2 MB per second of audio).
    """

    kind = "rf"
    max_seconds = 120.0

    def __init__(self, model, path=None):
        from muzo_lib.features.handmade import AudioFeatureExtractor

        self.model = model
        self.classes = [str(c) for c in model.classes_]
        names = [str(n) for n in model.feature_names_in_]
        self.extractor = AudioFeatureExtractor(extras=any(n.startswith("extra_") for n in names))
        self.sample_rate = self.extractor.sample_rate
        self.path = Path(path) if path else None
        from muzo_lib.models.hierarchy import forest_tree

        self.tree = forest_tree(self.classes)  # genre/subgenre classes: a two-level forest
        if self.tree is not None:
            self.classes = list(self.tree.genres)

    def prepare(self, waveform: np.ndarray) -> dict:
        return self.extractor.extract_all_features(waveform, self.sample_rate)

    def predict_prepared(self, items: list[dict]) -> np.ndarray:
        """Genre probabilities (a two-level forest's classes summed per genre)."""
        return self.predict_prepared_levels(items)[0]

    def predict_prepared_levels(self, items: list[dict]) -> tuple[np.ndarray, np.ndarray | None]:
        from muzo_lib.models.hierarchy import leaf_levels

        if not items:
            return np.zeros((0, len(self.classes))), None if self.tree is None else np.zeros((0, len(self.tree.subgenres)))
        import pandas as pd

        probs = self.model.predict_proba(pd.DataFrame(items))
        if self.tree is None:
            return probs, None
        return leaf_levels(probs, [str(c) for c in self.model.classes_], self.tree)

    def prepare_errors(self) -> tuple:
        """Descriptor errors (imported here: features cost numba and torch, which the network
        and .onnx paths do not need)."""
        from muzo_lib.features.handmade import FeatureError

        return (FeatureError,)

    def run_probabilities(self, run, track_ids: list[str], progress: bool = False) -> np.ndarray:
        """From the run's cached descriptors; a two-level forest's classes summed per genre."""
        from muzo_lib.features.handmade import run_features
        from muzo_lib.models.hierarchy import leaf_levels

        table, _ = run_features(run, self.extractor, progress=progress)
        missing = [t for t in track_ids if t not in table.index]
        if missing:
            raise ValueError(f"{len(missing)} tracks have no features: {missing[:3]}")
        probs = self.model.predict_proba(table.loc[list(track_ids), list(self.model.feature_names_in_)])
        if self.tree is None:
            return probs
        return leaf_levels(probs, [str(c) for c in self.model.classes_], self.tree)[0]


def load_model(path: str | os.PathLike, device=None) -> Predictor:
    """Open a saved model of any kind as a :class:`~muzo_lib.models.predictor.Predictor`.

    The kind is read from the file's content (:func:`muzo_lib.models.kinds.kind_of_file`; a
    renamed file is still recognised), and that kind's loader opens it.

    Args:
        path: a network checkpoint (``.pt``/``.pth``, from training or ``muzo train``), a
            Random Forest or musicnn classifier file (``.skops``), an exported model
            (``.onnx``, run by onnxruntime without importing torch), or a file of any other
            registered kind; a relative path is taken from the current directory.
        device: for networks: ``None`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``.

    Raises:
        FileNotFoundError: no such file.
        ModelLoadError: the file is no kind of Muzo model (one line, saying why).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    kind = kind_of_file(path)
    try:  # each kind imports only what it needs: scikit-learn for forests, torch for networks
        return kind.function("load")(path, device)
    except ModuleNotFoundError as exc:  # a deployment with onnxruntime only
        raise ModelLoadError(f"{path.name}: this kind of model needs the {exc.name} package, which is not installed "
                             "(exported .onnx models run with onnxruntime alone)") from None
    except ModelLoadError:
        raise
    except ValueError as exc:  # the kind's own format errors, one line
        raise ModelLoadError(str(exc)) from None


def load_network(path: Path, device=None) -> NetworkPredictor:
    """A CNN or hybrid checkpoint (the ``cnn`` and ``hybrid`` kinds' loader)."""
    from muzo_lib.training.checkpoints import CheckpointError, load_checkpoint

    try:
        return NetworkPredictor(load_checkpoint(path), device=device, path=path)
    except CheckpointError as exc:
        raise ModelLoadError(f"{exc} (expected a Muzo network checkpoint .pt or a Random Forest .skops file)") from None


def load_forest(path: Path, device=None) -> ForestPredictor:
    """A Random Forest file (the ``rf`` kind's loader; ``device`` is unused)."""
    from muzo_lib.models.forest import MusicGenreClassifier

    return ForestPredictor(MusicGenreClassifier.load_model(path), path)


# ---------------------------------------------------------------- files and folders

def expand_inputs(inputs, recursive: bool = True) -> list[Path]:
    """Files to predict from a list of files and folders.

    Folders contribute their audio files (:data:`muzo_lib.io.audio.AUDIO_EXTENSIONS`,
    sorted; sub-folders too when ``recursive``); files are kept whatever their ending, so
    a non-audio file is reported as unreadable rather than silently dropped.

    Raises:
        FileNotFoundError: an input that does not exist.
    """
    files: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files += sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return files


def predict_files(model: Predictor, paths, top_k: int = 3, batch_files: int = 16,
                  n_threads: int | None = None, duration: float | None = None,
                  progress: bool = True, max_seconds: float | None = -1.0) -> list[Prediction]:
    """Predict the genre of every file.

    Files are decoded (and, for networks, turned into log-mels) in ``n_threads`` threads;
    the segments of ``batch_files`` files are scored together.

    Args:
        model: from :func:`load_model`.
        paths: audio files (see :func:`expand_inputs` for folders).
        top_k: best genres listed per file.
        batch_files: files whose segments share forward passes.
        n_threads: decoding threads; default: the CPU count (at most 8).
        duration: seconds read from each file's start; ``None``: the model's own
            (:attr:`Predictor.duration`: the whole file unless the model was trained on
            a fixed duration).
        progress: draw a progress bar.
        max_seconds: longest excerpt scored per file (its centred part), seconds; the
            default (-1) uses the model's own :attr:`Predictor.max_seconds`; ``None``
            scores whole files however long (memory grows with length).

    Returns:
        One :class:`Prediction` per path, in order. A file that cannot be read gets its
        one-line ``error`` instead of stopping the batch. A file whose audio cannot carry a
        genre gets a ``warning`` (``"silent"``, ``"no signal (DC only)"``, ``"too short:
        0.05 s"``, from :func:`muzo_lib.io.audio.signal_problem`) and is not scored: its
        ``genre`` is ``None``, its probabilities uniform and its ``confidence``
        ``1 / n_classes``, so no file without a signal ever gets a confident answer.
    """
    paths = [Path(p) for p in paths]
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    n_threads = n_threads or min(8, os.cpu_count() or 1)
    duration = getattr(model, "duration", None) if duration is None else duration  # predictors may omit them
    cap = getattr(model, "max_seconds", None) if max_seconds is not None and max_seconds < 0 else max_seconds

    def prepare(path):
        try:
            y = load_audio(path, model.sample_rate, duration=duration, max_seconds=cap)
            warning = signal_problem(y, model.sample_rate)
            item = _NoSignal(warning) if warning else model.prepare(y)
            return item, len(y) / model.sample_rate, None
        except (AudioDecodeError, OSError) + model.prepare_errors() as exc:
            return None, None, f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)

    results: list[Prediction] = []
    bar = progress_bar(total=len(paths), desc="predicting", unit="file", disable=not progress)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        prepared = pool.map(prepare, paths)  # runs ahead of the network, in order
        batch: list = []
        for path, (item, seconds, error) in zip(paths, prepared):
            batch.append((path, item, seconds, error))
            if len(batch) == batch_files:
                results += _score_batch(model, batch, top_k)
                bar.update(len(batch))
                batch = []
        if batch:
            results += _score_batch(model, batch, top_k)
            bar.update(len(batch))
    bar.close()
    return results


class _NoSignal:
    """Stands in for a prepared item when the audio carries no signal (not scored)."""

    def __init__(self, warning: str):
        self.warning = warning


def _score_batch(model: Predictor, batch: list, top_k: int) -> list[Prediction]:
    ok = [b for b in batch if b[3] is None and not isinstance(b[1], _NoSignal)]
    tree = getattr(model, "tree", None)  # predictors without a subgenre head may not have one
    if tree is None:
        probs, subs = (model.predict_prepared([b[1] for b in ok]) if ok else np.zeros((0, len(model.classes)))), None
    else:
        probs, subs = model.predict_prepared_levels([b[1] for b in ok])
    by_item = {id(b): i for i, b in enumerate(ok)}
    out = []
    for b in batch:
        path, item, seconds, error = b
        if error is not None:
            out.append(Prediction(path=str(path), error=error))
        elif isinstance(item, _NoSignal):
            out.append(Prediction.no_signal(model.classes, item.warning, path=str(path), seconds=seconds))
        elif not np.all(np.isfinite(probs[by_item[id(b)]])):  # never print NaN as a confidence
            out.append(Prediction(path=str(path), error="the model gave non-finite probabilities"))
        else:
            i = by_item[id(b)]
            sub = None if subs is None else dict(zip(tree.subgenres, subs[i]))
            out.append(Prediction.from_probabilities(probs[i], model.classes, top_k, subgenre_probabilities=sub,
                                                     path=str(path), seconds=seconds))
    return out


def results_table(results: list[Prediction], top_k: int = 3):
    """:func:`predict_files` results as a table (a pandas DataFrame): file, genre, confidence %,
    runners-up, error. A file without a signal shows its warning in brackets as its genre, e.g. ``(silent)``."""
    import pandas as pd

    rows = []
    for r in results:
        if not r.ok:
            rows.append({"file": Path(r.path).name, "genre": "-", "confidence %": np.nan, "also": "", "error": r.error})
        elif r.warning:
            rows.append({"file": Path(r.path).name, "genre": f"({r.warning})",
                         "confidence %": round(100 * r.confidence, 1), "also": "", "error": ""})
        else:
            also = ", ".join(f"{g} {100 * p:.0f}%" for g, p in r.top_k[1:top_k])
            rows.append({"file": Path(r.path).name, "genre": r.label,
                         "confidence %": round(100 * r.confidence, 1), "also": also, "error": ""})
    return pd.DataFrame(rows, columns=["file", "genre", "confidence %", "also", "error"])


# ---------------------------------------------------------------- long recordings

def model_window_seconds(model: Predictor) -> float:
    """The model's own window, s: a network's training crop (``segment_seconds``), else 5 s.
    The live stream and the service's genre over time score windows of this length."""
    return float(getattr(model, "segment_seconds", None) or 5.0)


def genre_windows(model: Predictor, y: np.ndarray, window_seconds: float, hop_seconds: float,
                  batch_windows: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Genre probabilities of sliding windows over a waveform at ``model.sample_rate``, without pandas
    (the service's torch-free path uses it; :func:`genre_over_time` makes a table of it).

    Returns:
        ``(start_s (n,), end_s (n,), probabilities (n, len(model.classes)))``; a waveform shorter
        than one window gives one row covering all of it.
    """
    sr = model.sample_rate
    starts = window_starts(len(y), sr, window_seconds, hop_seconds)
    probs = model.predict_windows(y, starts, window_seconds, batch_windows)
    win = int(round(window_seconds * sr))
    return (np.array(starts) / sr, np.array([min(len(y), s + win) for s in starts]) / sr, probs)


def window_starts(n_samples: int, sample_rate: int, window_seconds: float, hop_seconds: float) -> list[int]:
    """First samples of the windows :func:`genre_windows` scores: every ``hop_seconds`` while a whole
    ``window_seconds`` fits (one window at 0 when none does)."""
    if window_seconds <= 0 or hop_seconds <= 0:
        raise ValueError("window_seconds and hop_seconds must be positive")
    win, hop = int(round(window_seconds * sample_rate)), int(round(hop_seconds * sample_rate))
    return list(range(0, max(1, n_samples - win + 1), hop))


def genre_over_time(model: Predictor, audio, window_seconds: float = 10.0, hop_seconds: float = 5.0,
                    sample_rate: int | None = None, batch_windows: int = 16) -> pd.DataFrame:
    """Follow a long recording with a sliding window.

    Args:
        model: from :func:`load_model`.
        audio: a file path, or a mono waveform (then give ``sample_rate``).
        window_seconds: length of each scored window, s (each is scored like a whole file).
        hop_seconds: step between window starts, s.
        sample_rate: the waveform's rate in Hz (must equal ``model.sample_rate``).
        batch_windows: windows scored together.

    Returns:
        One row per window: ``start_s``, ``end_s``, ``genre``, ``confidence`` and one
        probability column per genre (in ``model.classes`` order). A recording shorter
        than one window gives one row covering all of it.
    """
    if window_seconds <= 0 or hop_seconds <= 0:
        raise ValueError("window_seconds and hop_seconds must be positive")
    if isinstance(audio, (str, os.PathLike)):
        y = load_audio(audio, model.sample_rate)
    else:
        if sample_rate is None:
            raise ValueError("pass sample_rate (Hz) with a waveform array")
        if sample_rate != model.sample_rate:
            raise ValueError(f"the model expects {model.sample_rate} Hz audio, got {sample_rate} Hz")
        y = np.asarray(audio, dtype=np.float32)
    start_s, end_s, probs = genre_windows(model, y, window_seconds, hop_seconds, batch_windows)
    import pandas as pd

    frame = pd.DataFrame(probs, columns=model.classes)
    frame.insert(0, "confidence", probs.max(axis=1))
    frame.insert(0, "genre", [model.classes[i] for i in probs.argmax(axis=1)])
    frame.insert(0, "end_s", end_s)
    frame.insert(0, "start_s", start_s)
    return frame
