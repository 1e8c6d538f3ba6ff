"""The networks' user-facing API, as the seed document promises it (``src.`` -> ``muzo_lib.``).

- :func:`train_cnn_music_model`: audio files + labels in, a trained model file out.
- :class:`CNNMusicClassifier`: ``train`` / ``save_model`` / ``load_model`` / ``predict``
  (one file or a list), plus scikit-learn style ``classes_`` and ``predict_proba``.
- :func:`train_on_run`: the notebooks' path, training on a run's cached log-mels and
  saving the checkpoint and metrics JSON into the run folder.

Prediction end to end is: decode (``duration`` seconds from the start), the float32
log-mel front end, every ``segment_seconds`` segment of the track in one batch through
the network, segment probabilities averaged.

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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .audio import AudioDecodeError, load_audio
from .checkpoints import load_checkpoint, save_checkpoint
from .models import ARCHITECTURES, build_model, config_to_dict, count_parameters
from .paths import resolve_path
from .progress import progress_bar
from .runs import save_metrics
from .spectrogram import LogMelSpectrogram, MelConfig
from .training import (
    TrackSet,
    TrainConfig,
    evaluate,
    fit,
    predict_segments,
    resolve_device,
    seed_everything,
)


class CNNMusicClassifier:
    """A spectrogram network (``"cnn"`` or ``"hybrid"``) with its preprocessing and classes.

    Args:
        model_name: name of the model; the default file is ``<output_dir>/<model_name>.pth``.
        architecture: ``"cnn"`` (:class:`~muzo_lib.models.SpectrogramCNN`) or ``"hybrid"``
            (:class:`~muzo_lib.models.HybridCNNRNN`).
        sample_rate: audio is resampled to this rate, Hz.
        duration: seconds read from the start of each file, for training and prediction.
        n_mels: mel bands of the log-mel input.
        device: ``"cpu"``, ``"cuda"``...; ``None`` (or ``"auto"``) picks CUDA when present.
        segment_seconds: crop length in training, segment length in prediction, s.
        batch_size: training crops per step.
        random_state: seed for the validation split, weights, crops and augmentation.
        output_dir: folder for model files (relative paths hang from the project root).
        model_options: overrides of the model config (e.g. ``{"head": "seed"}``).
        verbose: print training log lines and progress bars.

    Attributes (after ``train`` or ``load_model``): ``model``, ``classes_`` (= ``genre_classes``),
    ``mel_config``, ``history_``, ``is_trained``, ``model_path``.
    """

    def __init__(self, model_name: str = "cnn-music-v1.0", architecture: str = "cnn", sample_rate: int = 22050,
                 duration: float = 30.0, n_mels: int = 128, device: str | None = None,
                 segment_seconds: float = 3.0, batch_size: int = 32, random_state: int = 42,
                 output_dir: str | os.PathLike = "models", model_options: dict | None = None, verbose: bool = True):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}")
        if not duration > 0 or not segment_seconds > 0:
            raise ValueError("duration and segment_seconds must be positive (seconds)")
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
        self.mel_config = MelConfig(sample_rate=sample_rate, n_mels=n_mels)
        self.history_: dict | None = None
        self.model_path: Path | None = None
        self._front_end = None

    # seed name for the class list
    @property
    def genre_classes(self) -> list[str] | None:
        return self.classes_

    @property
    def is_trained(self) -> bool:
        return self.model is not None

    def default_path(self) -> Path:
        return resolve_path(self.output_dir) / f"{self.model_name}.pth"

    # ---------------------------------------------------------------- training

    def train(self, audio_files, labels, num_epochs: int = 50, learning_rate: float = 0.001,
              validation_split: float = 0.2, early_stopping_patience: int = 10, save_best_model: bool = True,
              **train_options) -> dict:
        """Decode the files, split off a stratified validation part, train, keep the best epoch.

        Args:
            audio_files, labels: one genre name per file.
            num_epochs: most epochs.
            learning_rate: AdamW's initial learning rate.
            validation_split: fraction of the files held out for validation (stratified).
            early_stopping_patience: epochs without validation-loss improvement before stopping.
            save_best_model: write the best epoch to :meth:`default_path` as training goes.
            **train_options: other :class:`~muzo_lib.training.TrainConfig` fields
                (``crops_per_track``, ``augment``, ``mixed_precision``, ``grad_accum_steps``...).

        Returns:
            The seed's results dict: ``final_val_acc``, ``best_val_acc``, ``final_train_acc``
            (percent), ``history``, ``model_path``, ``training_time`` (s), ``classes``,
            ``num_epochs_trained``, ``train_losses``/``val_losses``/``val_accuracies``...,
            and ``skipped`` ({file: reason} for files that could not be decoded).

        Raises:
            ValueError: mismatched lists, fewer than two genres, or too few files to split.
        """
        audio_files, labels = [str(p) for p in audio_files], [str(label) for label in labels]
        if len(audio_files) != len(labels):
            raise ValueError(f"{len(audio_files)} audio files but {len(labels)} labels")
        if not 0 < validation_split < 1:
            raise ValueError(f"validation_split must be between 0 and 1, got {validation_split}")
        start = time.perf_counter()
        logmels, skipped = self._decode_all(audio_files)
        keep = [i for i, p in enumerate(audio_files) if p not in skipped]
        if skipped and self.verbose:
            print(f"⚠️  {len(skipped)} file(s) skipped (not decodable): "
                  + "; ".join(f"{Path(p).name}: {r}" for p, r in list(skipped.items())[:3]))
        classes = sorted({labels[i] for i in keep})
        if len(classes) < 2:
            raise ValueError(f"need at least two genres with decodable files, got {classes}")
        y = np.array([classes.index(labels[i]) for i in keep])
        train_idx, valid_idx = _stratified_split(np.arange(len(keep)), y, validation_split, self.random_state)
        tracks = [TrackSet([logmels[keep[j]] for j in idx], y[idx], [audio_files[keep[j]] for j in idx],
                           [audio_files[keep[j]] for j in idx]) for idx in (train_idx, valid_idx)]

        seed_everything(self.random_state)
        self.model = build_model(self._model_config(len(classes)))
        self.classes_ = classes
        config = TrainConfig(epochs=num_epochs, learning_rate=learning_rate, batch_size=self.batch_size,
                             early_stopping_patience=early_stopping_patience, segment_seconds=self.segment_seconds,
                             device=str(self.device), seed=self.random_state, progress=self.verbose,
                             verbose=self.verbose, **train_options)
        path = self.default_path() if save_best_model else None
        result = fit(self.model, tracks[0], tracks[1], classes, self.mel_config, config, checkpoint_path=path,
                     extra=self._extra())
        self.history_ = result.history
        self.model_path = path
        if path is not None:  # the file written during training lacks the final history: rewrite it
            self.save_model(path)
        h = result.history
        return {"model_name": self.model_name, "architecture": self.architecture,
                "training_samples": len(train_idx), "validation_samples": len(valid_idx),
                "num_classes": len(classes), "classes": classes, "num_epochs_trained": result.epochs_trained,
                "training_time": time.perf_counter() - start, "avg_epoch_time": float(np.mean(h["epoch_time"])),
                "best_val_loss": result.best_val_loss, "best_val_acc": result.best_val_acc,
                "best_epoch": result.best_epoch, "final_train_acc": result.final_train_acc,
                "final_val_acc": result.final_val_acc, "train_losses": h["train_loss"], "val_losses": h["val_loss"],
                "train_accuracies": h["train_acc"], "val_accuracies": h["val_acc"], "history": h,
                "model_path": None if path is None else str(path), "stopped_early": result.stopped_early,
                "parameters": count_parameters(self.model), "precision": result.precision,
                "skipped": skipped}

    def _model_config(self, n_classes: int):
        config_class = ARCHITECTURES[self.architecture][0]
        options = {"n_classes": n_classes, "n_mels": self.n_mels, **self.model_options}
        if self.architecture == "cnn" and options.get("head") == "seed":
            options.setdefault("input_frames", self.mel_config.frames(self.segment_seconds))
        return config_class(**options)

    def _decode_all(self, paths) -> tuple[list, dict]:
        """Log-mel of every file (None where it failed) and {path: reason} of the failures."""
        def one(path):
            try:
                return self._logmel(path), None
            except (AudioDecodeError, OSError) as exc:
                return None, str(exc)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            results = list(progress_bar(pool.map(one, paths), total=len(paths), desc="log-mels",
                                        disable=not self.verbose))
        return [r[0] for r in results], {p: r[1] for p, r in zip(paths, results) if r[1] is not None}

    def _logmel(self, path) -> np.ndarray:
        y = load_audio(path, self.mel_config.sample_rate, duration=self.duration)
        if self._front_end is None or self._front_end.config != self.mel_config:
            self._front_end = LogMelSpectrogram(self.mel_config)
        with torch.inference_mode():
            return self._front_end(torch.from_numpy(y)).numpy()

    def _extra(self) -> dict:
        return {"model_name": self.model_name, "duration": float(self.duration), "history": self.history_ or {}}

    # ---------------------------------------------------------------- files

    def save_model(self, path: str | os.PathLike | None = None) -> Path:
        """Write the model, its preprocessing and classes to ``path`` (default
        :meth:`default_path`) atomically; returns the absolute path."""
        self._check_trained()
        path = save_checkpoint(path or self.default_path(), self.model, self.mel_config, self.classes_,
                               self.segment_seconds, extra=self._extra())
        self.model_path = path
        return path

    def load_model(self, path: str | os.PathLike) -> "CNNMusicClassifier":
        """Load a file written by :meth:`save_model` or training; the architecture, classes,
        sample rate, mel bands, duration and segment length all come from the file.

        Raises:
            CheckpointError: a missing file or one that is not a Muzo network checkpoint.
        """
        ckpt = load_checkpoint(path)
        self.model = ckpt.model.to(self.device)
        self.architecture = ckpt.architecture
        self.classes_ = ckpt.classes
        self.mel_config = ckpt.mel_config
        self.sample_rate, self.n_mels = ckpt.mel_config.sample_rate, ckpt.mel_config.n_mels
        self.segment_seconds = ckpt.segment_seconds
        self.model_name = ckpt.extra.get("model_name", self.model_name)
        self.duration = ckpt.extra.get("duration", self.duration)
        self.history_ = ckpt.extra.get("history") or None
        self.model_path = resolve_path(path)
        return self

    # ---------------------------------------------------------------- prediction

    def predict(self, audio, batch_size: int = 64) -> dict:
        """Genre of one file, or of each file of a list.

        Args:
            audio: a path, or a list of paths.
            batch_size: segments per forward pass (a 30 s file has 10 segments of 3 s).

        Returns:
            For one path: ``{"file", "predictions": {"predicted_genre", "confidence",
            "probabilities": {genre: p}, "all_probabilities" (same), "segments"}}``.
            For a list: ``{"predictions": [one such dict per file, with "file"]}``; a file
            that cannot be decoded gets ``{"file", "error": reason}`` instead.

        Raises:
            AudioDecodeError: the single file given cannot be decoded.
        """
        self._check_trained()
        if isinstance(audio, (str, os.PathLike)):
            return {"file": str(audio), "predictions": self._predict_one(audio, batch_size)}
        out = []
        for path in progress_bar(list(audio), desc="predicting", disable=not self.verbose or len(audio) < 10):
            try:
                out.append({"file": str(path), **self._predict_one(path, batch_size)})
            except (AudioDecodeError, OSError) as exc:
                out.append({"file": str(path), "error": str(exc)})
        return {"predictions": out}

    def predict_proba(self, audio_files, batch_size: int = 64) -> np.ndarray:
        """``(n_files, n_classes)`` probabilities, columns in :attr:`classes_` order
        (scikit-learn style; an undecodable file raises :class:`AudioDecodeError`)."""
        self._check_trained()
        return np.stack([self._probabilities(self._logmel(p), batch_size)[0] for p in audio_files])

    def predict_logmel(self, logmel: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(n_classes,)`` of one track's log-mel ``(n_mels, frames)``
        (made with :attr:`mel_config`), e.g. from a run's cache."""
        self._check_trained()
        return self._probabilities(logmel, batch_size)[0]

    def _predict_one(self, path, batch_size: int) -> dict:
        probs, segments = self._probabilities(self._logmel(path), batch_size)
        best = int(probs.argmax())
        table = {c: float(p) for c, p in zip(self.classes_, probs)}
        return {"predicted_genre": self.classes_[best], "confidence": float(probs[best]), "probabilities": table,
                "all_probabilities": table, "segments": segments}

    def _probabilities(self, logmel: np.ndarray, batch_size: int) -> tuple[np.ndarray, int]:
        frames = self.mel_config.frames(self.segment_seconds)
        seg_probs, _ = predict_segments(self.model, [logmel], frames, self.device, batch_size)
        return seg_probs.mean(axis=0), len(seg_probs)

    def _check_trained(self):
        if self.model is None:
            raise RuntimeError("no model yet: call train(...) or load_model(path) first")


def train_cnn_music_model(audio_files, labels, output_dir: str | os.PathLike = "models",
                          model_name: str = "cnn-music-v1.0", architecture: str = "cnn", num_epochs: int = 50,
                          learning_rate: float = 0.001, validation_split: float = 0.2, batch_size: int = 32,
                          early_stopping_patience: int = 10, device: str | None = None, sample_rate: int = 22050,
                          duration: float = 30.0, n_mels: int = 128, segment_seconds: float = 3.0,
                          random_state: int = 42, model_options: dict | None = None, verbose: bool = True,
                          **train_options) -> dict:
    """Train a ``"cnn"`` or ``"hybrid"`` network on audio files and save it as
    ``<output_dir>/<model_name>.pth``; the seed's one-call entry point.

    Returns:
        :meth:`CNNMusicClassifier.train`'s results dict (``final_val_acc``, ``best_val_acc``
        in percent, ``history``, ``model_path``, ``training_time``...).
    """
    classifier = CNNMusicClassifier(model_name=model_name, architecture=architecture, sample_rate=sample_rate,
                                    duration=duration, n_mels=n_mels, device=device, segment_seconds=segment_seconds,
                                    batch_size=batch_size, random_state=random_state, output_dir=output_dir,
                                    model_options=model_options, verbose=verbose)
    return classifier.train(audio_files, labels, num_epochs=num_epochs, learning_rate=learning_rate,
                            validation_split=validation_split, early_stopping_patience=early_stopping_patience,
                            save_best_model=True, **train_options)


def train_on_run(run, name: str = "cnn", architecture: str = "cnn", mel_config: MelConfig | None = None,
                 train_config: TrainConfig | None = None, model_options: dict | None = None,
                 logmels: dict | None = None, seed: int = 0, save: bool = True,
                 checkpoint_path: str | os.PathLike | None = None, resume: bool | str = False) -> dict:
    """Train a network on a run's cached log-mels, test it, and save it into the run.

    Trains on the ``train`` split, picks the epoch on ``valid``, scores ``test`` at track
    level. Writes ``<run_dir>/models/<name>.pt`` (checkpoint) and
    ``<run_dir>/metrics/<name>.json`` (test ``accuracy``/``macro_f1`` on top) when ``save``.

    Args:
        run: a :class:`~muzo_lib.runs.RunData`.
        name: file stem for the checkpoint and metrics.
        architecture: ``"cnn"`` or ``"hybrid"``.
        mel_config: log-mel settings (default :class:`MelConfig`).
        train_config: a :class:`~muzo_lib.training.TrainConfig` (its seed is replaced by ``seed``).
        model_options: model config overrides (``{"head": "seed"}``, ``{"channels": ...}``).
        logmels: ``run.logmels(mel_config)`` if already loaded.
        seed: seeds the weights and training.
        checkpoint_path: where training keeps its best and last checkpoints (default: the
            run's ``models/<name>.pt`` when ``save``, else nowhere).
        resume: continue a killed training from its last checkpoint (see :func:`~muzo_lib.training.fit`).

    Returns:
        dict with ``model``, ``result`` (:class:`~muzo_lib.training.TrainResult`), ``valid`` and
        ``test`` (:func:`~muzo_lib.training.evaluate` dicts), ``tracks`` ({split: TrackSet}),
        ``metrics`` (what the JSON holds), ``checkpoint_path``, ``metrics_path``.
    """
    mel = mel_config or MelConfig()
    cfg = train_config or TrainConfig()
    cfg = TrainConfig(**{**asdict(cfg), "seed": seed})
    logmels = logmels if logmels is not None else run.logmels(mel, progress=cfg.progress)
    tracks = {s: TrackSet.from_run(run, logmels, s) for s in ("train", "valid", "test")}
    config_class = ARCHITECTURES[architecture][0]
    options = {"n_classes": len(run.classes), "n_mels": mel.n_mels, **(model_options or {})}
    if architecture == "cnn" and options.get("head") == "seed":
        options.setdefault("input_frames", mel.frames(cfg.segment_seconds))
    seed_everything(seed)
    model = build_model(config_class(**options))
    checkpoint = checkpoint_path if checkpoint_path is not None else \
        (run.run_dir / "models" / f"{name}.pt" if save else None)
    result = fit(model, tracks["train"], tracks["valid"], run.classes, mel, cfg, checkpoint_path=checkpoint,
                 extra={"model_name": name, "duration": None}, resume=resume)
    frames = mel.frames(cfg.segment_seconds)
    valid = evaluate(model, tracks["valid"], run.classes, frames, cfg.device, cfg.eval_batch_size, cfg.mixed_precision)
    test = evaluate(model, tracks["test"], run.classes, frames, cfg.device, cfg.eval_batch_size, cfg.mixed_precision)
    if checkpoint is not None:  # rewrite with the history and test scores alongside the weights
        save_checkpoint(checkpoint, model, mel, run.classes, cfg.segment_seconds,
                        extra={"model_name": name, "history": result.history, "test_accuracy": test["accuracy"]})
    metrics = {"model": name, "architecture": architecture, "accuracy": test["accuracy"],
               "macro_f1": test["metrics"]["macro_f1"], "segment_accuracy": test["segment_accuracy"],
               "valid_accuracy": valid["accuracy"], "split": "test", "level": "track",
               "n": len(tracks["test"]), "parameters": count_parameters(model),
               "model_config": config_to_dict(model.config), "train_config": {**asdict(cfg), "device": str(cfg.device)},
               "mel_config": mel.to_dict(), "classes": run.classes, "best_epoch": result.best_epoch,
               "epochs_trained": result.epochs_trained, "training_time_s": result.training_time,
               "train_crops_per_s": result.segments_per_second, "precision": result.precision,
               "history": result.history, "test_per_class": test["metrics"]["per_class"],
               "test_confusion": test["metrics"]["confusion"], "seed": seed}
    metrics_path = save_metrics(run.run_dir, name, metrics) if save else None
    return {"model": model, "result": result, "valid": valid, "test": test, "tracks": tracks, "metrics": metrics,
            "checkpoint_path": checkpoint, "metrics_path": metrics_path}


def _stratified_split(indices: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Stratified train/validation indices; plain random when a class is too small to stratify."""
    n_valid = max(1, int(round(fraction * len(indices))))
    if len(indices) - n_valid < 1:
        raise ValueError(f"{len(indices)} decodable files are too few for a validation split of {fraction}")
    counts = np.bincount(y)
    stratify = y if counts.min() >= 2 and n_valid >= len(counts) else None
    return train_test_split(indices, test_size=n_valid, random_state=seed, stratify=stratify)
