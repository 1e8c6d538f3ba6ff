"""The networks' user-facing API, as the seed document promises it (``src.`` -> ``muzo_lib.``).

- :func:`train_cnn_music_model`: audio files + labels in, a trained model file out.
- :class:`CNNMusicClassifier`: ``train`` / ``save_model`` / ``load_model`` / ``predict``
  (one file or a list), plus scikit-learn style ``classes_`` and ``predict_proba``.

This module is a thin adapter: training goes through the course's
:func:`~muzo_lib.course.members.train_on_run` on a leakage-safe split
(:func:`~muzo_lib.data.runs.run_from_files`: grouped by artist where artists are known), and
prediction through :func:`~muzo_lib.inference.prediction.predict_files`, so ``CNNMusicClassifier``,
``muzo predict`` and the notebooks give the same probabilities for the same model and file.
Paths are taken from the current directory.

Example (the seed README's):
    >>> results = train_cnn_music_model(audio_files=audio_files, labels=labels,
    ...                                 model_name="my-cnn-v1.0", architecture="cnn",
    ...                                 num_epochs=50, learning_rate=0.001)
    >>> classifier = CNNMusicClassifier()
    >>> classifier.load_model("models/my-cnn-v1.0.pth")
    >>> classifier.predict("path/to/new_song.wav")["predictions"]["predicted_genre"]
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from muzo_lib.features.cache import MappedEntries
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.io.audio import AudioDecodeError
from muzo_lib.io.log import get_logger
from muzo_lib.models.devices import resolve_device
from muzo_lib.models.networks import ARCHITECTURES, count_parameters
from muzo_lib.training.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from muzo_lib.training.loop import TrainConfig

_log = get_logger(__name__)

#: The seed document's own training values, which its API keeps (50 epochs, seed 42). The
#: library's defaults are :class:`~muzo_lib.training.loop.TrainConfig`'s (30 epochs, seed 0); the
#: course's are :data:`muzo_lib.course.members.COURSE_TRAINING`. Used by :class:`CNNMusicClassifier`
#: and :func:`train_cnn_music_model` alike.
SEED_TRAINING = {"num_epochs": 50, "learning_rate": 0.001, "validation_split": 0.2, "batch_size": 32,
                 "early_stopping_patience": 10, "random_state": 42}


class CNNMusicClassifier:
    """A spectrogram network (``"cnn"`` or ``"hybrid"``) with its preprocessing and classes.

    Args:
        model_name: name of the model; the default file is ``<output_dir>/<model_name>.pth``.
        architecture: ``"cnn"`` (:class:`~muzo_lib.models.networks.SpectrogramCNN`) or ``"hybrid"``
            (:class:`~muzo_lib.models.networks.HybridCNNRNN`).
        sample_rate: audio is resampled to this rate, Hz.
        duration: seconds read from the start of each file, in training and prediction
            (kept in the model file, so ``muzo predict`` reads the same); ``None``: whole files.
        n_mels: mel bands of the log-mel input.
        device: ``"cpu"``, ``"cuda"``...; ``None`` (or ``"auto"``) picks CUDA when present.
        segment_seconds: crop length in training, segment length in prediction, s.
        batch_size: training crops per step.
        random_state: seed for the validation split, weights, crops and augmentation.
        output_dir: folder for model files (relative to the current directory).
        model_options: overrides of the model config (e.g. ``{"head": "flatten"}``).
        verbose: log the training lines (the ``muzo`` logger) and draw progress bars.

    Attributes (after ``train`` or ``load_model``): ``model``, ``classes_`` (= ``genre_classes``),
    ``mel_config``, ``history_``, ``is_trained``, ``model_path``.
    """

    def __init__(self, model_name: str = "cnn-music-v1.0", architecture: str = "cnn", sample_rate: int = 22050,
                 duration: float | None = 30.0, n_mels: int = 128, device: str | None = None,
                 segment_seconds: float = 3.0, batch_size: int = SEED_TRAINING["batch_size"],
                 random_state: int = SEED_TRAINING["random_state"],
                 output_dir: str | os.PathLike = "models", model_options: dict | None = None, verbose: bool = True):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}")
        if (duration is not None and not duration > 0) or not segment_seconds > 0:
            raise ValueError("duration (or None) and segment_seconds must be positive (seconds)")
        self.model_name = model_name
        self.architecture = architecture
        self.sample_rate = sample_rate
        self.duration = duration
        self.n_mels = n_mels
        self.device = resolve_device(device)
        self.segment_seconds = segment_seconds
        self.batch_size = batch_size
        self.random_state = random_state
        self.output_dir = output_dir
        self.model_options = dict(model_options or {})
        self.verbose = verbose
        self.model = None
        self.classes_: list[str] | None = None
        # a network with a fixed front end (musicnn-finetune: musicnn's own log-mel) brings its settings
        self.mel_config = getattr(ARCHITECTURES[architecture][0], "input_mel", None) or MelConfig(sample_rate=sample_rate,
                                                                                                  n_mels=n_mels)
        self.sample_rate, self.n_mels = self.mel_config.sample_rate, self.mel_config.n_mels
        self.history_: dict | None = None
        self.model_path: Path | None = None
        self.class_tree_: dict | None = None  # a two-level file's genre/subgenre tree (muzo_lib.models.hierarchy)
        self._predictor = None

    # seed name for the class list
    @property
    def genre_classes(self) -> list[str] | None:
        return self.classes_

    @property
    def is_trained(self) -> bool:
        return self.model is not None

    def default_path(self) -> Path:
        return Path(self.output_dir).expanduser() / f"{self.model_name}.pth"

    # ---------------------------------------------------------------- training

    def train(self, audio_files, labels, num_epochs: int = SEED_TRAINING["num_epochs"],
              learning_rate: float = SEED_TRAINING["learning_rate"],
              validation_split: float = SEED_TRAINING["validation_split"],
              early_stopping_patience: int = SEED_TRAINING["early_stopping_patience"], save_best_model: bool = True,
              **train_options) -> dict:
        """Split off a validation part (grouped by artist where known, stratified by genre),
        train with the library's one training loop, keep the best epoch.

        Args:
            audio_files, labels: one genre name per file.
            num_epochs: most epochs.
            learning_rate: AdamW's initial learning rate.
            validation_split: fraction of the tracks held out for validation.
            early_stopping_patience: epochs without validation-loss improvement before stopping.
            save_best_model: write the best epoch to :meth:`default_path` as training goes.
            **train_options: other :class:`~muzo_lib.training.loop.TrainConfig` fields
                (``crops_per_track``, ``augment``, ``mixed_precision``, ``grad_accum_steps``...).

        Returns:
            The seed's results dict: ``final_val_acc``, ``best_val_acc`` (the kept epoch's: what
            the saved model scores), ``max_val_acc`` (the best of any epoch), ``final_train_acc``
            (percent), ``history``, ``model_path``, ``training_time`` (s), ``classes``,
            ``num_epochs_trained``, ``train_losses``/``val_losses``/``val_accuracies``...,
            ``split`` (how the validation tracks were chosen) and ``skipped``
            ({file: reason} for files that could not be used).

        Raises:
            ValueError: mismatched lists, fewer than two genres, or too few files to split.
        """
        from muzo_lib.course.members import train_on_run
        from muzo_lib.data.runs import run_from_files

        if not 0 < validation_split < 1:
            raise ValueError(f"validation_split must be between 0 and 1, got {validation_split}")
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="muzo-train-") as tmp:
            run = run_from_files(audio_files, labels, tmp, seed=self.random_state, valid_size=validation_split)
            skipped = dict(zip(run.manifest.path[run.manifest.status != "ok"],
                               run.manifest.reason[run.manifest.status != "ok"]))
            if skipped and self.verbose:
                _log.warning(f"⚠️  {len(skipped)} file(s) skipped: "
                      + "; ".join(f"{Path(p).name}: {r}" for p, r in list(skipped.items())[:3]))
            if len(run.classes) < 2:
                raise ValueError(f"need at least two genres with usable files, got {run.classes}")
            if not len(run.subset("train")) or not len(run.subset("valid")):
                raise ValueError(f"{len(run.tracks)} usable files are too few for a validation split "
                                 f"of {validation_split}")
            logmels = run.logmels(self.mel_config, progress=self.verbose)
            if self.duration is not None:
                frames = self.mel_config.frames(self.duration)
                logmels = MappedEntries(logmels, lambda x: x[:, :frames])   # cut as read: never all at once
            config = TrainConfig(epochs=num_epochs, learning_rate=learning_rate, batch_size=self.batch_size,
                                 early_stopping_patience=early_stopping_patience, segment_seconds=self.segment_seconds,
                                 device=str(self.device), seed=self.random_state, progress=self.verbose,
                                 verbose=self.verbose, **train_options)
            path = self.default_path() if save_best_model else None
            out = train_on_run(run, self.model_name, self.architecture, self.mel_config, config,
                               model_options=self.model_options, logmels=logmels, seed=self.random_state,
                               save=False, checkpoint_path=path, extra=self._extra(),
                               tensorboard=False)  # the run folder is temporary
            n_train, n_valid = len(out.tracks["train"]), len(out.tracks["valid"])
            split_note = run.split_info.note
        self.model, self.classes_, self._predictor, self.class_tree_ = out.model, list(run.classes), None, None
        result = out.training
        self.history_ = result.history
        self.model_path = path
        if path is not None:  # the file written during training lacks the final history: rewrite it
            self.save_model(path)
        h = result.history
        return {"model_name": self.model_name, "architecture": self.architecture,
                "training_samples": n_train, "validation_samples": n_valid,
                "num_classes": len(self.classes_), "classes": self.classes_, "num_epochs_trained": result.epochs_trained,
                "training_time": time.perf_counter() - start, "avg_epoch_time": float(np.mean(h["epoch_time"])),
                "best_val_loss": result.best_val_loss, "best_val_acc": result.best_val_acc,
                "max_val_acc": result.max_val_acc,
                "best_epoch": result.best_epoch, "final_train_acc": result.final_train_acc,
                "final_val_acc": result.final_val_acc, "train_losses": h["train_loss"], "val_losses": h["val_loss"],
                "train_accuracies": h["train_acc"], "val_accuracies": h["val_acc"], "history": h,
                "model_path": None if path is None else str(path), "stopped_early": result.stopped_early,
                "parameters": count_parameters(self.model), "precision": result.precision,
                "split": split_note, "skipped": skipped}

    def _extra(self) -> dict:
        tree = {"class_tree": self.class_tree_} if self.class_tree_ else {}
        return {"model_name": self.model_name, "duration": self.duration, "history": self.history_ or {}, **tree}

    def _outputs(self) -> list[str]:
        """The network's output names: the genres, then a two-level model's ``genre/subgenre`` classes."""
        return list(self.classes_) + list(self.class_tree_["subgenres"] if self.class_tree_ else [])

    # ---------------------------------------------------------------- files

    def save_model(self, path: str | os.PathLike | None = None) -> Path:
        """Write the model, its preprocessing and classes to ``path`` (default
        :meth:`default_path`) atomically; returns the path written."""
        self._check_trained()
        path = save_checkpoint(path or self.default_path(), self.model, self.mel_config, self._outputs(),
                               self.segment_seconds, extra=self._extra())
        self.model_path = path
        return path

    def load_model(self, path: str | os.PathLike) -> "CNNMusicClassifier":
        """Load a file written by :meth:`save_model`, training, ``muzo train`` or the course;
        the architecture, classes, sample rate, mel bands, duration and segment length all
        come from the file.

        Raises:
            CheckpointError: a missing file or one that is not a Muzo network checkpoint.
        """
        path = Path(path).expanduser()
        ckpt = load_checkpoint(path)
        self.model = ckpt.model.to(self.device)
        self.architecture = ckpt.architecture
        self.class_tree_ = ckpt.extra.get("class_tree") or None
        self.classes_ = list(self.class_tree_["genres"]) if self.class_tree_ else ckpt.classes
        self.mel_config = ckpt.mel_config
        self.sample_rate, self.n_mels = ckpt.mel_config.sample_rate, ckpt.mel_config.n_mels
        self.segment_seconds = ckpt.segment_seconds
        self.model_name = ckpt.extra.get("model_name", self.model_name)
        self.duration = ckpt.extra.get("duration") or None
        self.history_ = ckpt.extra.get("history") or None
        self.model_path = path.resolve()
        self._predictor = None
        return self

    # ---------------------------------------------------------------- prediction

    def predict(self, audio, batch_size: int = 64) -> dict:
        """Genre of one file, or of each file of a list (the same numbers as ``muzo predict``).

        Args:
            audio: a path, or a list of paths.
            batch_size: segments per forward pass (a 30 s file has 10 segments of 3 s).

        Returns:
            For one path: ``{"file", "predictions": {"predicted_genre", "confidence",
            "probabilities": {genre: p}, "all_probabilities" (same), "seconds"}}``, and for a
            two-level model (genre and subgenre heads) ``"predicted_subgenre"``,
            ``"subgenre_confidence"`` (given the genre) and ``"subgenre_top_k"``.
            For a list: ``{"predictions": [one such dict per file, with "file"]}``; a file
            that cannot be decoded gets ``{"file", "error": reason}`` instead.

        Raises:
            AudioDecodeError: the single file given cannot be decoded.
        """
        from muzo_lib.inference.prediction import predict_files

        predictor = self._network(batch_size)
        if isinstance(audio, (str, os.PathLike)):
            result = predict_files(predictor, [audio], top_k=len(self.classes_), progress=False)[0]
            if not result.ok:
                raise AudioDecodeError(result.error)
            return {"file": str(audio), "predictions": result.to_seed_dict()}
        paths = list(audio)
        results = predict_files(predictor, paths, top_k=len(self.classes_),
                                progress=self.verbose and len(paths) >= 10)
        return {"predictions": [{"file": str(p), **(r.to_seed_dict() if r.ok else {"error": r.error})}
                                for p, r in zip(paths, results)]}

    def predict_proba(self, audio_files, batch_size: int = 64) -> np.ndarray:
        """``(n_files, n_classes)`` probabilities, columns in :attr:`classes_` order
        (scikit-learn style; an undecodable file raises :class:`AudioDecodeError`)."""
        from muzo_lib.inference.prediction import predict_files

        results = predict_files(self._network(batch_size), list(audio_files), top_k=1, progress=False)
        bad = [r for r in results if not r.ok]
        if bad:
            raise AudioDecodeError(f"{bad[0].path}: {bad[0].error}")
        return np.array([[r.probabilities[c] for c in self.classes_] for r in results])

    def predict_logmel(self, logmel: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(n_classes,)`` of one track's log-mel ``(n_mels, frames)``
        (made with :attr:`mel_config`), e.g. from a run's cache."""
        return self._network(batch_size).predict_logmels([logmel])[0]

    def _network(self, batch_size: int):
        """The prediction layer's :class:`~muzo_lib.inference.prediction.NetworkPredictor` for this model."""
        from muzo_lib.inference.prediction import NetworkPredictor

        self._check_trained()
        if self._predictor is None:
            checkpoint = Checkpoint(model=self.model, model_config=self.model.config, mel_config=self.mel_config,
                                    classes=self._outputs(), segment_seconds=self.segment_seconds,
                                    extra={"duration": self.duration, **({"class_tree": self.class_tree_}
                                                                        if self.class_tree_ else {})})
            self._predictor = NetworkPredictor(checkpoint, device=self.device, path=self.model_path)
        self._predictor.batch_size = batch_size
        return self._predictor

    def _check_trained(self):
        if self.model is None:
            raise RuntimeError("no model yet: call train(...) or load_model(path) first")


def train_cnn_music_model(audio_files, labels, output_dir: str | os.PathLike = "models",
                          model_name: str = "cnn-music-v1.0", architecture: str = "cnn",
                          num_epochs: int = SEED_TRAINING["num_epochs"],
                          learning_rate: float = SEED_TRAINING["learning_rate"],
                          validation_split: float = SEED_TRAINING["validation_split"],
                          batch_size: int = SEED_TRAINING["batch_size"],
                          early_stopping_patience: int = SEED_TRAINING["early_stopping_patience"],
                          device: str | None = None, sample_rate: int = 22050,
                          duration: float | None = 30.0, n_mels: int = 128, segment_seconds: float = 3.0,
                          random_state: int = SEED_TRAINING["random_state"], model_options: dict | None = None,
                          verbose: bool = True,
                          **train_options) -> dict:
    """Train a ``"cnn"`` or ``"hybrid"`` network on audio files and save it as
    ``<output_dir>/<model_name>.pth``; the seed's one-call entry point.

    Returns:
        :meth:`CNNMusicClassifier.train`'s results dict (``final_val_acc``, ``best_val_acc``
        (the kept model's) in percent, ``history``, ``model_path``, ``training_time``...).
    """
    classifier = CNNMusicClassifier(model_name=model_name, architecture=architecture, sample_rate=sample_rate,
                                    duration=duration, n_mels=n_mels, device=device, segment_seconds=segment_seconds,
                                    batch_size=batch_size, random_state=random_state, output_dir=output_dir,
                                    model_options=model_options, verbose=verbose)
    return classifier.train(audio_files, labels, num_epochs=num_epochs, learning_rate=learning_rate,
                            validation_split=validation_split, early_stopping_patience=early_stopping_patience,
                            save_best_model=True, **train_options)
