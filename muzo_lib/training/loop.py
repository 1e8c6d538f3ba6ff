"""One training loop for every network in Muzo, readable top to bottom (nanoGPT style).

:func:`fit` trains on random fixed-length crops of cached log-mels (3 s by default), so
an epoch sees each training track ``crops_per_track`` times at different places, and
evaluates every validation track whole: its log-mel is cut into consecutive segments,
the network scores them in batches, and the segment probabilities are averaged
(:func:`muzo_lib.evaluation.metrics.track_probabilities`). Track-level accuracy is the headline.

Around that core: AdamW, ReduceLROnPlateau on validation loss, early stopping,
best-checkpoint saving, a per-epoch history, a progress bar and seed-style log lines
(through the ``muzo`` logger, :mod:`muzo_lib.io.log`);
mixed precision (CUDA: bf16 or fp16 + GradScaler; CPU: bf16 where the CPU has native
bf16 instructions, checked at run time), channels_last, gradient accumulation, and a
CUDA out-of-memory during a step halves the micro-batch and doubles the accumulation
so the effective batch stays the same. One seed makes a CPU run repeatable.

Checkpoints are written as training goes (the best epoch, and after every epoch the last
one with the optimizer, scheduler and counters), so a killed run resumes (``resume=True``)
to the same result; a NaN or infinite loss stops the run with one line and keeps the last
good files. Started by ``torchrun``, the same loop trains with DistributedDataParallel
(see :mod:`muzo_lib.training.distributed` and docs/distributed.md).

Example:
    >>> train = TrackSet.from_run(run, logmels, "train"); valid = TrackSet.from_run(run, logmels, "valid")
    >>> model = SpectrogramCNN(CNNConfig(n_classes=len(run.classes)))
    >>> result = fit(model, train, valid, run.classes, MelConfig(), TrainConfig(epochs=10),
    ...              checkpoint_path=run.run_dir / "models" / "cnn.pt")
    >>> result.history["val_acc"], result.best_val_acc
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from muzo_lib.evaluation.metrics import classification_metrics, track_probabilities
from muzo_lib.features.augment import AugmentConfig, augment_batch, stretch_and_shift
from muzo_lib.features.cache import KeyedSequence
from muzo_lib.features.numpy_frontend import pad_frames, track_segments  # torch-free: shared with the onnxruntime predictor
from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig
from muzo_lib.io.audio import fix_length, load_audio
from muzo_lib.io.log import get_logger
from muzo_lib.io.progress import progress_bar
from muzo_lib.models.devices import autocast_dtype, precision_name, resolve_device, use_channels_last
from muzo_lib.models.networks import config_to_dict
from muzo_lib.training.checkpoints import CheckpointError, last_checkpoint_path, load_training_state, save_checkpoint
from muzo_lib.training.distributed import DistInfo, all_gather_objects, all_reduce_sum, init_distributed, training_device
from muzo_lib.training.state import IMPROVEMENT, TrainState
from muzo_lib.training.tensorboard import EventFiles

# ---------------------------------------------------------------- configuration

@dataclass
class TrainConfig:
    """Every knob of :func:`fit`, with its unit. Saved next to the weights.

    Attributes:
        epochs: most passes over the training tracks.
        batch_size: crops per optimizer micro-step (the loader's batch).
        learning_rate: AdamW's initial step size.
        weight_decay: AdamW's decoupled weight decay.
        segment_seconds: crop length for training and segment length for evaluation, s.
        crops_per_track: random crops drawn from each training track per epoch.
        lr_patience: epochs without a better validation loss that are tolerated: the LR is cut
            at the next one (PyTorch's ``ReduceLROnPlateau`` ``patience``; 1 cuts on the second).
        lr_factor: factor the LR is multiplied by at each cut.
        early_stopping_patience: epochs without improvement of ``monitor`` after which training
            stops (3: on the third). "Better" means lower by more than 1e-6 for both counters.
        monitor: ``"val_loss"`` (default, smoother on small validation sets) or
            ``"val_acc"`` (track-level); picks the best checkpoint and drives early stopping.
        grad_accum_steps: loader batches whose gradients are summed per optimizer step
            (effective batch = ``batch_size * grad_accum_steps``).
        num_workers: DataLoader worker processes (0 loads in the main process; works everywhere).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` or ``"auto"`` picks CUDA when present.
        mixed_precision: ``"auto"`` (CUDA: bf16 if supported else fp16; CPU: bf16 only with
            native bf16 instructions), ``True`` (force), ``False`` (float32).
        channels_last: ``"auto"`` (on a CPU always, on a GPU with mixed precision: see
            :func:`~muzo_lib.models.devices.use_channels_last`), ``True`` or ``False``.
        augment: the training-time :class:`AugmentConfig`.
        label_smoothing: cross-entropy label smoothing (0 = off).
        warmup_steps: optimizer steps over which every parameter group's LR ramps linearly
            from ``1/warmup_steps`` of its rate up to it (step ``k`` trains at ``k/warmup_steps``
            of it); 0 = no warm-up. A model with ``param_groups(lr)`` (a pretrained body at a
            lower rate than its new head) gets its groups from it; others one group at ``learning_rate``.
        eval_batch_size: segments per forward pass at evaluation.
        recalibrate_batchnorm: before each validation, recompute every trainable BatchNorm layer's
            running statistics (frozen ones, whose weights all have ``requires_grad`` off, keep
            theirs) from one plain (unaugmented) crop of each training track, as
            PreciseBN does (Wu & Johnson, 2021). Otherwise the statistics used at evaluation
            are a moving average over the last few dozen augmented batches, taken while the
            weights were still moving: on the course's data that alone swung validation
            accuracy by 20-30 points between epochs. Costs one forward pass over those crops.
        seed: seeds the shuffling, crops, augmentation and dropout, afresh each epoch from
            ``(seed, epoch, rank)`` (so a resumed run repeats; ``fit`` reseeds torch's global
            RNG); the caller seeds the model's initial weights, e.g. with :func:`seed_everything`.
        progress: draw progress bars.
        verbose: log the training lines (to the ``muzo`` logger, :mod:`muzo_lib.io.log`).
        log_style: ``"seed"``: the seed document's lines, five or six per epoch; ``"compact"``:
            one line per epoch (losses, accuracies, LR cut, kept or patience), for notebooks,
            where a few dozen epochs should read as one table.
    """
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    segment_seconds: float = 3.0
    crops_per_track: int = 8
    lr_patience: int = 5
    lr_factor: float = 0.5
    early_stopping_patience: int = 10
    monitor: str = "val_loss"
    grad_accum_steps: int = 1
    num_workers: int = 0
    device: str | None = None
    mixed_precision: str | bool = "auto"
    channels_last: str | bool = "auto"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    label_smoothing: float = 0.0
    warmup_steps: int = 0
    eval_batch_size: int = 64
    recalibrate_batchnorm: bool = True
    seed: int = 0
    progress: bool = True
    verbose: bool = True
    log_style: str = "seed"

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        for name in ("epochs", "batch_size", "crops_per_track", "grad_accum_steps", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.num_workers < 0 or self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.num_workers and warmup_steps must be >= 0, got {self.num_workers} and "
                             f"{self.warmup_steps}")
        if not self.learning_rate > 0 or not self.segment_seconds > 0:
            raise ValueError("learning_rate and segment_seconds must be positive")
        if self.monitor not in ("val_loss", "val_acc"):
            raise ValueError(f"TrainConfig.monitor must be 'val_loss' or 'val_acc', got {self.monitor!r}")
        if self.log_style not in ("seed", "compact"):
            raise ValueError(f"TrainConfig.log_style must be 'seed' or 'compact', got {self.log_style!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrackSet:
    """Tracks to train or evaluate on: one log-mel (dB, ``(n_mels, frames)``) and one
    integer label each. ``paths`` (audio files) are needed only for waveform augmentation."""
    logmels: list
    labels: np.ndarray
    names: list
    paths: list | None = None

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if not (len(self.logmels) == len(self.labels) == len(self.names)):
            raise ValueError("TrackSet needs one label and one name per log-mel")

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_run(cls, run, logmels: Mapping, split: str) -> "TrackSet":
        """The tracks of one split of a :class:`~muzo_lib.data.runs.RunData`, with the
        ``track_id -> log-mel`` mapping that ``run.logmels(config)`` returns (or a dict).
        The log-mels are looked up as they are used (:class:`~muzo_lib.features.cache.KeyedSequence`),
        so a split read from the cache is never held whole."""
        part = run.subset(split)
        part = part[part.track_id.isin(list(logmels))]
        return cls(logmels=KeyedSequence(logmels, part.track_id), labels=part.genre.map(run.classes.index).to_numpy(),
                   names=list(part.track_id), paths=list(part.path))


@dataclass
class TrainResult:
    """What :func:`fit` returns. Accuracies are percentages at track level.

    ``best_val_acc``/``best_val_loss`` are the validation scores of the epoch whose weights
    were kept (``best_epoch``, chosen by ``TrainConfig.monitor``): what the returned model
    scores. ``max_val_acc`` is the highest accuracy and ``min_val_loss`` the lowest loss of
    any epoch, which may come from other epochs (a kept model never scores above
    ``max_val_acc``). ``effective_batch`` counts crops per optimizer step over every process.
    ``resumed_after_epoch`` is 0 for a fresh run; ``training_time`` covers this call only."""
    history: dict
    best_epoch: int
    best_val_loss: float
    best_val_acc: float
    final_train_acc: float
    final_val_acc: float
    epochs_trained: int
    stopped_early: bool
    training_time: float
    segments_per_second: float
    device: str
    precision: str
    effective_batch: int
    checkpoint_path: str | None = None
    max_val_acc: float = math.nan
    min_val_loss: float = math.nan
    resumed_after_epoch: int = 0
    world_size: int = 1

    @property
    def kept_val_acc(self) -> float:
        """The kept epoch's validation accuracy (= ``best_val_acc``; the name used before)."""
        return self.best_val_acc

    @property
    def kept_val_loss(self) -> float:
        """The kept epoch's validation loss (= ``best_val_loss``; the name used before)."""
        return self.best_val_loss

    def to_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA), e.g. before building a model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- data

class CropDataset(Dataset):
    """Random fixed-length crops of cached log-mels: item ``i`` is a crop of track
    ``i % n_tracks`` at an offset drawn from ``(seed, epoch, i)``, so crops change every
    epoch (:meth:`set_epoch`) yet a seeded run repeats exactly, with or without workers."""

    def __init__(self, tracks: TrackSet, frames: int, crops_per_track: int, seed: int = 0):
        self.tracks, self.frames, self.crops, self.seed, self.epoch = tracks, frames, crops_per_track, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.tracks) * self.crops

    def __getitem__(self, i: int):
        t = i % len(self.tracks)
        logmel = self.tracks.logmels[t]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        start = int(rng.integers(0, max(1, logmel.shape[-1] - self.frames + 1)))
        crop = pad_frames(logmel[:, start:start + self.frames], self.frames)
        return torch.from_numpy(np.asarray(crop, dtype=np.float32)), int(self.tracks.labels[t])


class WaveformCropDataset(Dataset):
    """Random crops decoded from the audio files, time-stretched and pitch-shifted
    (``AugmentConfig.time_stretch`` / ``pitch_shift``); the loop turns them into log-mels
    with the float32 front end. Slower than :class:`CropDataset`: use workers."""

    def __init__(self, tracks: TrackSet, mel_config: MelConfig, seconds: float, crops_per_track: int,
                 augment: AugmentConfig, seed: int = 0):
        if tracks.paths is None:
            raise ValueError("waveform augmentation (time_stretch, pitch_shift) needs the tracks' audio paths")
        self.tracks, self.mel, self.seconds, self.crops = tracks, mel_config, seconds, crops_per_track
        self.augment, self.seed, self.epoch = augment, seed, 0

    set_epoch = CropDataset.set_epoch
    __len__ = CropDataset.__len__

    def __getitem__(self, i: int):
        t = i % len(self.tracks)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        track_seconds = self.mel.seconds(self.tracks.logmels[t].shape[-1])
        read = self.seconds * (1 + self.augment.time_stretch) + 0.1
        offset = float(rng.uniform(0, max(0.0, track_seconds - read)))
        y = load_audio(self.tracks.paths[t], self.mel.sample_rate, offset=offset, duration=read)
        y = stretch_and_shift(y, self.mel.sample_rate, self.augment, rng)
        return torch.from_numpy(fix_length(y, int(round(self.seconds * self.mel.sample_rate))).copy()), \
            int(self.tracks.labels[t])


# ---------------------------------------------------------------- evaluation

@torch.inference_mode()
def predict_segments(model: nn.Module, tracks: TrackSet | Iterable, frames: int, device=None,
                     batch_size: int = 64, precision: str | bool = "auto",
                     channels_last: str | bool = "auto", probabilities=None) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of every segment of every track.

    The tracks are read one at a time and their segments scored in batches of ``batch_size``
    (a batch may span tracks), so memory holds one batch and one track, not the dataset.

    Args:
        tracks: a :class:`TrackSet` or log-mels ``(n_mels, frames)`` (a list, a lazy sequence, a generator).
        frames: segment length, frames.
        channels_last: the model's memory format from now on (``"auto"``: see
            :func:`~muzo_lib.models.devices.use_channels_last`).
        probabilities: logits -> probabilities (default: one softmax over all outputs; a
            two-level network's :meth:`~muzo_lib.models.hierarchy.TwoLevelLoss.probabilities` gives two).

    Returns:
        ``(segment_probs (n_segments, n_classes), segment_track (n_segments,))``.
    """
    logmels = tracks.logmels if isinstance(tracks, TrackSet) else tracks
    device = resolve_device(device) if device is None or isinstance(device, str) else device
    dtype = autocast_dtype(device, precision)
    with torch.inference_mode(False):      # a moved or reformatted weight must stay trainable afterwards
        _prepare(model, device, use_channels_last(device, dtype, channels_last))
    model.eval()
    segments = ((i, segment) for i, m in enumerate(logmels) for segment in track_segments(np.asarray(m), frames))
    probs, owner = [], []
    batch = list(itertools.islice(segments, batch_size))
    while batch:
        x = torch.from_numpy(np.stack([np.asarray(s, dtype=np.float32) for _, s in batch])).to(device)
        try:
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = model(x).float()
                probs.append((probabilities(logits) if probabilities else torch.softmax(logits, dim=-1)).cpu().numpy())
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size //= 2                                 # out of GPU memory: smaller batches, same result
            segments = itertools.chain(batch[batch_size:], segments)
            batch = batch[:batch_size]
            continue
        owner += [i for i, _ in batch]
        batch = list(itertools.islice(segments, batch_size))
    n_classes = model.config.n_classes
    return (np.concatenate(probs) if probs else np.zeros((0, n_classes))), np.asarray(owner, dtype=int)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, tracks: TrackSet, frames: int, device, batch_size: int = 64,
                          epoch: int = 0, seed: int = 0, max_crops: int = 64) -> None:
    """Recompute the running mean and variance of every BatchNorm layer of ``model`` from one
    unaugmented ``frames``-long crop of each of about ``max_crops`` tracks (every k-th, so every
    class is in; offsets drawn from ``(seed, epoch)``; each channel's statistics then rest on
    ``max_crops x bands x frames`` values), in batches of ``batch_size``: the batches'
    statistics averaged with each batch weighted by its crops, so the mean is the crops' exact
    mean whatever the batch size (see ``TrainConfig.recalibrate_batchnorm``). The same crops on
    every rank give every rank the same statistics; other layers and the weights are untouched."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and not _frozen(m)]
    if not norms or not len(tracks):
        return
    rng = np.random.default_rng([seed, epoch, 0x5EED])
    crops = []
    for logmel in tracks.logmels[::max(1, -(-len(tracks) // max_crops))]:  # every k-th track: all classes
        start = int(rng.integers(0, max(1, logmel.shape[-1] - frames + 1)))
        crops.append(pad_frames(np.asarray(logmel[:, start:start + frames], dtype=np.float32), frames))
    was_training, momenta = model.training, [m.momentum for m in norms]
    model.eval()                                           # dropout off: no randomness drawn
    for m in norms:
        m.train()
    try:
        while True:
            seen = 0
            try:
                for s in range(0, len(crops), batch_size):
                    batch = crops[s:s + batch_size]
                    for m in norms:                        # each batch weighs its share of the crops
                        m.momentum = len(batch) / (seen + len(batch))
                    model(torch.from_numpy(np.stack(batch)).to(device))
                    seen += len(batch)
                break
            except torch.OutOfMemoryError:
                if batch_size == 1:
                    raise
                batch_size //= 2                           # out of GPU memory: smaller batches, start again
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)


def _frozen(module: nn.Module) -> bool:
    """A module with weights of which none trains (a frozen pretrained layer keeps its statistics)."""
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def evaluate(model: nn.Module, tracks: TrackSet, classes: list[str], frames: int, device=None,
             batch_size: int = 64, precision: str | bool = "auto", shard: DistInfo | None = None,
             objective=None, channels_last: str | bool = "auto") -> dict:
    """Segment- and track-level scores of ``model`` on ``tracks``.

    Args:
        classes: the network's output names, as :func:`fit`'s ``outputs`` (with a two-level
            ``objective``, genres then subgenres; the scores are the genre level's).
        channels_last: the memory format the model is kept in (see :func:`predict_segments`);
            :func:`fit` passes its own, so validation never changes the format it trains in.
        shard: in a torchrun job, the ranks' :class:`~muzo_lib.training.distributed.DistInfo`: each rank
            scores every ``world_size``-th track and the segment probabilities are gathered,
            so every rank returns the same scores as one process scoring every track.
        objective: with a two-level :class:`~muzo_lib.models.hierarchy.TwoLevelLoss` the loss is its
            two-level loss, ``track_probs`` holds both levels ``(n_tracks, G + S)``, and
            ``accuracy``, ``predictions``, ``labels`` and ``metrics`` are the genre level's.

    Returns:
        dict with ``loss`` (mean segment cross-entropy), ``accuracy`` (track level, %),
        ``segment_accuracy`` (%), ``track_probs`` ``(n_tracks, n_classes)``, ``predictions``
        (class indices per track), ``labels``, ``names``, and ``metrics``
        (:func:`~muzo_lib.evaluation.metrics.classification_metrics` at track level).
    """
    probabilities = objective and objective.probabilities
    if shard is not None and shard.world_size > 1:
        mine = np.arange(shard.rank, len(tracks), shard.world_size)
        seg_probs, owner = predict_segments(model, (tracks.logmels[i] for i in mine), frames, device, batch_size,
                                            precision, channels_last, probabilities=probabilities)
        parts = all_gather_objects((seg_probs, mine[owner]))
        seg_probs, owner = np.concatenate([p for p, _ in parts]), np.concatenate([o for _, o in parts])
        order = np.argsort(owner, kind="stable")          # back to one process's order: track by track
        seg_probs, owner = seg_probs[order], owner[order]
    else:
        seg_probs, owner = predict_segments(model, tracks, frames, device, batch_size, precision, channels_last,
                                            probabilities=probabilities)
    if objective is not None:  # two levels: genre-level accuracy, two-level loss
        return _evaluate_two_level(objective, seg_probs, owner, tracks)
    seg_labels = tracks.labels[owner]
    loss = float(-np.mean(np.log(np.clip(seg_probs[np.arange(len(owner)), seg_labels], 1e-12, None)))) \
        if len(owner) else float("nan")
    _, probs = track_probabilities(seg_probs, owner)
    predictions = probs.argmax(axis=1)
    metrics = classification_metrics(tracks.labels, predictions, classes)
    return {"loss": loss, "accuracy": metrics["accuracy"],
            "segment_accuracy": 100.0 * float(np.mean(seg_probs.argmax(1) == seg_labels)) if len(owner) else float("nan"),
            "track_probs": probs, "predictions": predictions, "labels": tracks.labels, "names": list(tracks.names),
            "metrics": metrics}


def _evaluate_two_level(objective, seg_probs, owner, tracks: TrackSet) -> dict:
    genre_labels = objective.tree.split_labels(tracks.labels)[0]
    _, probs = track_probabilities(seg_probs, owner)
    predictions = objective.genre_predictions(probs)
    seg_genre = objective.genre_predictions(seg_probs)
    metrics = classification_metrics(genre_labels, predictions, list(objective.tree.genres))
    return {"loss": objective.segment_loss(seg_probs, tracks.labels[owner]), "accuracy": metrics["accuracy"],
            "segment_accuracy": 100.0 * float(np.mean(seg_genre == genre_labels[owner])) if len(owner) else float("nan"),
            "track_probs": probs, "predictions": predictions, "labels": genre_labels, "names": list(tracks.names),
            "metrics": metrics, "encoded_labels": tracks.labels}


# ---------------------------------------------------------------- the loop

class NonFiniteLossError(ValueError):
    """The loss became NaN or infinite: training stopped; the checkpoints of the last good
    epoch stay on disk. The message is one line; its facts are attributes too, for code that
    acts on them: ``what`` ("training loss" or "validation loss"), ``value``, ``epoch``,
    ``step`` (``None`` for a validation loss) and ``kept_epoch`` (0: no epoch was kept)."""

    def __init__(self, message: str, what: str = "", value: float = math.nan, epoch: int = 0,
                 step: int | None = None, kept_epoch: int = 0):
        super().__init__(message)
        self.what, self.value, self.epoch, self.step, self.kept_epoch = what, value, epoch, step, kept_epoch


def fit(model: nn.Module, train: TrackSet, valid: TrackSet, outputs: list[str], mel_config: MelConfig,
        config: TrainConfig | None = None, checkpoint_path: str | os.PathLike | None = None,
        extra: dict | None = None, resume: bool | str | os.PathLike = False, objective=None,
        tensorboard_dir: str | os.PathLike | None = None) -> TrainResult:
    """Train ``model`` on ``train``, select and checkpoint it on ``valid``; see the module doc.

    Started by ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set), every process runs
    this same function: the model is wrapped in DistributedDataParallel, each rank trains on
    its shard of every epoch's crops (``batch_size`` crops per rank and micro-step, so the
    global batch is ``batch_size * grad_accum_steps * world_size``), validation is sharded
    and gathered, and only rank 0 logs and writes (:mod:`muzo_lib.training.distributed`).

    Args:
        model: a network from :mod:`muzo_lib.models.networks` (anything with ``config.n_classes``).
        train, valid: :class:`TrackSet` s (``valid`` may not be empty).
        outputs: the network's output names in order: its genres, or genres then subgenres
            with a two-level ``objective`` (saved in the checkpoint as its class list).
        mel_config: the log-mel settings of the tracks (saved in the checkpoint).
        config: a :class:`TrainConfig`; default settings when ``None``.
        checkpoint_path: where the best model is written (atomically) whenever it improves;
            after every epoch the last model and the :class:`~muzo_lib.training.state.TrainState`
            to resume from are written to :func:`~muzo_lib.training.checkpoints.last_checkpoint_path`
            (``cnn.pt`` -> ``cnn.last.pt``).
        extra: plain values stored in the checkpoint alongside the weights.
        resume: ``True`` continues a killed run from the last checkpoint next to
            ``checkpoint_path`` (a path: from that file); ``"auto"``: the same when that file
            exists, else a fresh start; ``False``: a fresh start. Each epoch's randomness
            (crop order, augmentation, dropout) is drawn from ``(seed, epoch, rank)``, so on
            CPU a resumed run ends with exactly the weights and history of an uninterrupted one.
        objective: ``None`` (cross-entropy over ``outputs``) or a two-level
            :class:`~muzo_lib.models.hierarchy.TwoLevelLoss` (genre + subgenre heads; the history's
            accuracies are then the genre's, its losses the two-level loss).
        tensorboard_dir: a folder for TensorBoard event files (per-epoch losses, accuracies
            and learning rate; :mod:`muzo_lib.training.tensorboard`), written when ``tensorboard``
            is installed (otherwise one line says it is not); ``None``: none.

    Returns:
        :class:`TrainResult`; ``model`` holds the kept (best) epoch's weights on return.

    Raises:
        NonFiniteLossError: the training or validation loss became NaN or infinite; the
            files of the last good epoch are kept.
        muzo_lib.training.checkpoints.CheckpointError: ``resume`` names a missing or unfit file.
    """
    cfg = config or TrainConfig()
    world = init_distributed(cfg.device)
    say = _log.info if cfg.verbose and world.is_main else _silent
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(f"need training and validation tracks, got {len(train)} and {len(valid)}")
    resume_from = _resume_file(resume, checkpoint_path)
    saved = load_training_state(resume_from) if resume_from is not None else None
    if saved is not None:
        _check_resumable(saved, model, outputs, resume_from)
    last_path = None if checkpoint_path is None else last_checkpoint_path(checkpoint_path)

    # -- set-up: device, precision, data, optimiser; the state to start from
    engine = _build_engine(model, train, mel_config, cfg, world, objective, saved and saved["state_dict"])
    _log_setup(say, engine, cfg, outputs, len(train), len(valid))
    state = TrainState()
    if saved is not None:
        state = TrainState.from_resume(saved)
        engine.load_resume(saved)
        _log_resume(say, saved, resume_from, cfg)
    elif last_path is not None and last_path.is_file():
        say(f"↺ Starting afresh: {last_path.name} from an earlier run will be replaced (resume=True continues it)")
    events = EventFiles.open(tensorboard_dir if world.is_main else None, say)
    first_epoch, clock = state.epoch + 1, _Clock()

    for epoch in range(first_epoch, cfg.epochs + 1):
        if state.out_of_patience(cfg.early_stopping_patience):  # a resumed run that had stopped already
            break
        # -- train one epoch on fresh random crops
        epoch_start = time.perf_counter()
        train_loss, train_acc, crops = _train_epoch(model, engine, state, cfg, epoch, checkpoint_path, say)
        clock.trained(time.perf_counter() - epoch_start, crops)

        # -- evaluate every validation track, schedule the LR, keep the best
        if cfg.recalibrate_batchnorm:
            recalibrate_batchnorm(model, train, engine.frames, engine.device, cfg.eval_batch_size, epoch, cfg.seed)
        val = evaluate(model, valid, outputs, engine.frames, engine.device, cfg.eval_batch_size, cfg.mixed_precision,
                       shard=world, objective=objective, channels_last=engine.channels_last)
        for what, value in (("training loss", train_loss), ("validation loss", val["loss"])):
            if not math.isfinite(value):                           # the same gathered value on every rank
                _stop_non_finite(model, state, what, value, epoch, checkpoint_path)
        lr_before, lr_after = engine.schedule(val["loss"])
        state.record(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val["loss"],
                     val_acc=val["accuracy"], val_segment_acc=val["segment_accuracy"],
                     val_macro_f1=val["metrics"]["macro_f1"], lr=lr_before, epoch_time=time.perf_counter() - epoch_start)
        left = clock.elapsed() / (epoch - first_epoch + 1) * (cfg.epochs - epoch)
        _log_epoch(say, state, cfg, engine.device, lr_before, lr_after)
        improved = state.judge(val["loss"] if cfg.monitor == "val_loss" else -val["accuracy"], model)
        scores = {"epoch": epoch, "val_acc": val["accuracy"], "val_loss": val["loss"], "train_config": _plain_config(cfg),
                  **(extra or {})}
        if improved and checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, mel_config, outputs, cfg.segment_seconds, extra=scores)
        _log_judgement(say, state, cfg, improved, saved=checkpoint_path is not None, lr=(lr_before, lr_after))
        if last_path is not None:                                  # what a resumed run starts from
            save_checkpoint(last_path, model, mel_config, outputs, cfg.segment_seconds, extra=scores,
                            resume={**state.to_resume(), **engine.resume_state(), "train_config": _plain_config(cfg)})
        events.write_epoch(state.history)
        if epoch < cfg.epochs and cfg.log_style == "seed":
            say(f"  🕐 Est. remaining time: {_fmt(left)} ({cfg.epochs - epoch} epochs left)")
        if state.out_of_patience(cfg.early_stopping_patience):
            say(f"🛑 Early stopping at epoch {epoch}: no better {cfg.monitor} for {state.bad_epochs} epochs")
            break

    events.close()
    if state.best_state_dict is None:
        raise ValueError(f"no epoch was trained: epochs={cfg.epochs}")
    model.load_state_dict(state.best_state_dict)
    result = _result(state, cfg, engine, clock, checkpoint_path, first_epoch)
    _log_summary(say, result, cfg)
    return result


# ---------------------------------------------------------------- the loop's parts

_log = get_logger(__name__)


def _silent(*args, **kwargs) -> None:
    """``say`` when the lines are off (``TrainConfig.verbose=False``, or not the main rank)."""


# settings a resumed run may change without changing what it computes
_RESUME_FREE = ("epochs", "early_stopping_patience", "num_workers", "device", "progress", "verbose", "log_style",
                "eval_batch_size")

@dataclass
class _Engine:
    """What trains, apart from the state it carries: the device and precision, the network
    (wrapped in DistributedDataParallel in a torchrun job), the crops and their loader, the
    optimiser, LR schedule and gradient scaler, and the loss (``objective``)."""
    world: DistInfo
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    net: nn.Module
    frames: int
    dataset: Dataset
    sampler: DistributedSampler
    loader: DataLoader
    generator: torch.Generator
    front_end: nn.Module | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler
    global_batch: int
    objective: object = None

    def schedule(self, val_loss: float) -> tuple[float, float]:
        """Step the LR schedule on the validation loss: the rates before and after."""
        before = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step(val_loss)
        return before, self.optimizer.param_groups[0]["lr"]

    def warm_up(self, step: int, warmup_steps: int) -> None:
        """After optimizer step ``step`` (1-based, counted over the run), set every group's LR
        for the next one: ``(step + 1) / warmup_steps`` of its full rate until it is reached.
        Multiplying by the ratio of consecutive ramp values keeps any cut the plateau
        schedule made meanwhile; step 1's rate is set when the optimizer is built."""
        if step < warmup_steps:
            for group in self.optimizer.param_groups:
                group["lr"] *= (step + 1) / step

    def resume_state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_resume(self, saved: dict) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler.is_enabled() and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])


def _build_engine(model: nn.Module, train: TrackSet, mel_config: MelConfig, cfg: TrainConfig, world: DistInfo,
                  objective=None, weights: dict | None = None) -> _Engine:
    """Device and precision chosen at run time, ``weights`` (a resumed run's) loaded, the
    network wrapped for DDP, the crops of ``train`` and their loader, AdamW,
    ReduceLROnPlateau (on the validation loss) and a GradScaler (on for fp16 only)."""
    device = resolve_device(training_device(world, cfg.device))
    amp_dtype = autocast_dtype(device, cfg.mixed_precision)
    channels_last = use_channels_last(device, amp_dtype, cfg.channels_last)
    _prepare(model, device, channels_last)
    if weights is not None:
        model.load_state_dict(weights)
    net = _wrap_ddp(model, device, world)
    generator = torch.Generator()
    frames = mel_config.frames(cfg.segment_seconds)
    if cfg.augment.needs_waveforms:
        dataset = WaveformCropDataset(train, mel_config, cfg.segment_seconds, cfg.crops_per_track, cfg.augment, cfg.seed)
        front_end = LogMelSpectrogram(mel_config).to(device)
    else:
        dataset, front_end = CropDataset(train, frames, cfg.crops_per_track, cfg.seed), None
    # one shuffle for one process or many: rank r of w takes every w-th crop of the same
    # (seed, epoch) permutation, so w ranks of batch b see one process's batches of w * b
    sampler = DistributedSampler(dataset, num_replicas=world.world_size, rank=world.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, generator=generator,
                        num_workers=cfg.num_workers, pin_memory=device.type == "cuda")
    groups = model.param_groups(cfg.learning_rate) if hasattr(model, "param_groups") else model.parameters()
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    for group in optimizer.param_groups if cfg.warmup_steps else ():  # step 1 of the warm-up (a resume loads its own)
        group["lr"] /= cfg.warmup_steps
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.lr_factor,
                                                           patience=cfg.lr_patience, threshold=IMPROVEMENT,
                                                           threshold_mode="abs")
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    return _Engine(world, device, amp_dtype, channels_last, net, frames, dataset, sampler, loader, generator,
                   front_end, optimizer, scheduler, scaler, cfg.batch_size * cfg.grad_accum_steps * world.world_size,
                   objective)


def _wrap_ddp(model: nn.Module, device: torch.device, world: DistInfo) -> nn.Module:
    """``model`` in DistributedDataParallel in a torchrun job (gradients averaged over ranks), else itself."""
    if not world.active:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _train_epoch(model: nn.Module, engine: _Engine, state: TrainState, cfg: TrainConfig, epoch: int,
                 checkpoint_path=None, say=_silent) -> tuple[float, float, int]:
    """One pass over fresh random crops: forward, loss, backward, and an optimizer step every
    ``grad_accum_steps`` batches. Returns the mean training loss, the accuracy (%) and the
    number of crops, over every rank."""
    e = engine
    e.net.train()
    e.dataset.set_epoch(epoch)
    e.sampler.set_epoch(epoch)
    _seed_epoch(e.generator, cfg.seed, epoch, e.world.rank)
    loss_sum, correct, seen = 0.0, 0, 0
    steps = (epoch - 1) * math.ceil(len(e.loader) / cfg.grad_accum_steps)   # optimizer steps before this epoch
    e.optimizer.zero_grad(set_to_none=True)
    bar = progress_bar(e.loader, desc=f"Epoch {epoch}/{cfg.epochs}", leave=False,
                       disable=not (cfg.progress and e.world.is_main))
    for step, (x, y) in enumerate(bar, 1):
        x, y = x.to(e.device, non_blocking=True), y.to(e.device, non_blocking=True)
        if e.front_end is not None:
            x = e.front_end(x)                                     # float32 log-mel, outside autocast
        x, targets = augment_batch(x, F.one_hot(y, model.config.n_classes).float(), cfg.augment, e.generator)
        step_ends = step % cfg.grad_accum_steps == 0 or step == len(e.loader)
        loss, hits = _backward_with_backoff(e, state, cfg, x, targets, y, step_ends, say)
        if not math.isfinite(loss) and e.world.world_size == 1:  # alone, stop before the step spoils the weights
            _stop_non_finite(model, state, "training loss", loss, epoch, checkpoint_path, step)
        loss_sum, correct, seen = loss_sum + loss * len(y), correct + hits, seen + len(y)
        if step_ends:
            e.scaler.step(e.optimizer)
            e.scaler.update()
            e.optimizer.zero_grad(set_to_none=True)
            steps += 1
            e.warm_up(steps, cfg.warmup_steps)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / seen:.1f}%")
    loss_sum, correct, seen = all_reduce_sum([loss_sum, correct, seen], e.device)   # every rank's crops
    return loss_sum / seen, 100 * correct / seen, int(seen)


def _backward_with_backoff(engine: _Engine, state: TrainState, cfg: TrainConfig, x, targets, labels, sync: bool,
                           say=_silent) -> tuple[float, int]:
    """:func:`_forward_backward` of one loader batch; a CUDA out-of-memory halves the
    micro-batch (kept in ``state.micro_batch``) and retries, so the accumulation doubles and
    the effective batch stays the same. This step's partial gradients are dropped."""
    while True:
        micro_batch = state.micro_batch or cfg.batch_size
        try:
            return _forward_backward(engine.net, x, targets, labels, micro_batch, cfg.grad_accum_steps,
                                     engine.amp_dtype, engine.scaler, cfg.label_smoothing, sync=sync,
                                     objective=engine.objective)
        except torch.OutOfMemoryError:
            if micro_batch == 1:
                raise
            engine.optimizer.zero_grad(set_to_none=True)
            if engine.device.type == "cuda":
                torch.cuda.empty_cache()
            state.micro_batch = micro_batch // 2
            chunks = math.ceil(cfg.batch_size / state.micro_batch)
            say(f"⚠️  CUDA out of memory: batch size halved to {state.micro_batch}, accumulation steps "
                f"{cfg.grad_accum_steps * chunks} (effective batch kept at {engine.global_batch})")


class _Clock:
    """Wall time since the loop started, and the training crops per second (evaluation excluded)."""

    def __init__(self):
        self.start, self.train_seconds, self.crops = time.perf_counter(), 0.0, 0

    def trained(self, seconds: float, crops: int) -> None:
        self.train_seconds += seconds
        self.crops += crops

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def crops_per_second(self) -> float:
        return self.crops / max(self.train_seconds, 1e-9)


def _result(state: TrainState, cfg: TrainConfig, engine: _Engine, clock: _Clock, checkpoint_path,
            first_epoch: int) -> TrainResult:
    h = state.history
    return TrainResult(history=h, best_epoch=state.best_epoch, best_val_loss=state.kept("val_loss"),
                       best_val_acc=state.kept("val_acc"), final_train_acc=h["train_acc"][-1],
                       final_val_acc=h["val_acc"][-1], epochs_trained=len(h["epoch"]),
                       stopped_early=state.out_of_patience(cfg.early_stopping_patience),
                       training_time=clock.elapsed(), segments_per_second=clock.crops_per_second(),
                       device=str(engine.device), precision=precision_name(engine.amp_dtype),
                       effective_batch=engine.global_batch,
                       checkpoint_path=None if checkpoint_path is None else str(checkpoint_path),
                       max_val_acc=max(h["val_acc"]), min_val_loss=min(h["val_loss"]),
                       resumed_after_epoch=first_epoch - 1, world_size=engine.world.world_size)


# -- the seed-style log lines (one ``say`` per line; see muzo_lib.io.log)

def _log_setup(say, engine: _Engine, cfg: TrainConfig, classes, n_train: int, n_valid: int) -> None:
    world, accum = engine.world, cfg.grad_accum_steps
    say(f"🚀 Using device: {engine.device} ({precision_name(engine.amp_dtype)}"
        f"{', channels_last' if engine.channels_last else ''})"
        + (f", {world.world_size} processes (DDP, {world.backend})" if world.active else ""))
    if engine.device.type == "cuda":
        say(f"🎮 GPU: {torch.cuda.get_device_name(engine.device)}")
    say(f"🎵 Classes: {list(classes)}")
    say(f"📊 {n_train} training tracks x {cfg.crops_per_track} random {cfg.segment_seconds:g} s crops "
        f"= {len(engine.dataset)} per epoch; {n_valid} validation tracks")
    say(f"💾 Batch size: {cfg.batch_size} x {accum} accumulation steps"
        + (f" x {world.world_size} processes" if world.world_size > 1 else "") + f" = effective batch {engine.global_batch}")


def _log_resume(say, saved: dict, path, cfg: TrainConfig) -> None:
    defaults = _plain_config(TrainConfig())          # a setting added since the file was saved had its default
    changed = sorted(k for k, v in _plain_config(cfg).items()
                     if k not in _RESUME_FREE and saved["train_config"].get(k, defaults[k]) != v)
    say(f"⏩ Resuming after epoch {saved['epoch']} from {path}"
        + (f" (settings changed since: {', '.join(changed)})" if changed else ""))


def _log_epoch(say, state: TrainState, cfg: TrainConfig, device: torch.device, lr_before: float,
               lr_after: float) -> None:
    h = state.history
    if cfg.log_style == "compact":                   # the one line is written by _log_judgement
        return
    say(f"Epoch {state.epoch}/{cfg.epochs} completed in {_fmt(h['epoch_time'][-1])}")
    say(f"  Train Loss: {h['train_loss'][-1]:.4f}, Train Acc: {h['train_acc'][-1]:.2f}% (crops)")
    say(f"  Val Loss: {h['val_loss'][-1]:.4f}, Val Acc: {h['val_acc'][-1]:.2f}% (tracks), "
        f"{h['val_segment_acc'][-1]:.2f}% (segments)")
    if device.type == "cuda":
        say(f"  🎮 GPU memory: {torch.cuda.max_memory_allocated(device) / 1e9:.2f} GB peak")
    if lr_after < lr_before:
        say(f"  📉 Learning rate reduced: {lr_before:.2e} -> {lr_after:.2e}")


def _log_judgement(say, state: TrainState, cfg: TrainConfig, improved: bool, saved: bool,
                   lr: tuple[float, float] = (0.0, 0.0)) -> None:
    if cfg.log_style == "compact":
        h, cut = state.history, f" | LR {lr[0]:.1e} -> {lr[1]:.1e}" if lr[1] < lr[0] else ""
        verdict = ("best so far" + (", saved" if saved else "") if improved
                   else f"no better {state.bad_epochs}/{cfg.early_stopping_patience}")
        say(f"epoch {state.epoch:>2}/{cfg.epochs} {h['epoch_time'][-1]:5.1f} s | train loss {h['train_loss'][-1]:.3f} "
            f"acc {h['train_acc'][-1]:5.1f}% | valid loss {h['val_loss'][-1]:.3f} acc {h['val_acc'][-1]:5.1f}% "
            f"(segments {h['val_segment_acc'][-1]:5.1f}%) | {verdict}{cut}")
        return
    if not improved:
        say(f"  ⏳ Patience: {state.bad_epochs}/{cfg.early_stopping_patience}")
        return
    where = "💾 New best model saved" if saved else "⭐ New best model, kept in memory"
    say(f"  {where} ({cfg.monitor}: {state.history[cfg.monitor][-1]:.4f})")


def _log_summary(say, result: TrainResult, cfg: TrainConfig) -> None:
    h, top = result.history, int(np.argmax(result.history["val_acc"]))
    say(f"✅ Training completed in {_fmt(result.training_time)} ({result.segments_per_second:.0f} training crops/s)")
    say(f"📈 Kept checkpoint: epoch {result.best_epoch}, validation accuracy {result.best_val_acc:.2f}% "
        f"(loss {result.best_val_loss:.4f}, chosen by {cfg.monitor})"
        + ("" if result.max_val_acc <= result.best_val_acc else
           f"; the best accuracy of any epoch was {result.max_val_acc:.2f}% (epoch {int(h['epoch'][top])})"))


def _resume_file(resume, checkpoint_path) -> Path | None:
    """The last checkpoint to resume from, or ``None`` for a fresh start (see :func:`fit`)."""
    if resume is False or resume is None:
        return None
    if resume is True or resume == "auto":
        if checkpoint_path is None:
            raise ValueError("resume needs checkpoint_path (the last checkpoint is kept next to it)")
        path = last_checkpoint_path(checkpoint_path)
        if resume == "auto":
            return path if path.is_file() else None
        if not path.is_file():
            raise CheckpointError(f"nothing to resume: {path} does not exist (no earlier run wrote it)")
        return path
    return Path(resume).expanduser()


def _check_resumable(state: dict, model: nn.Module, classes, path) -> None:
    """One-line errors when the last checkpoint belongs to another model or class list."""
    name = Path(path).name
    if list(state["classes"]) != [str(c) for c in classes]:
        raise CheckpointError(f"cannot resume from {name}: it was trained on classes {list(state['classes'])}, "
                              f"not {list(classes)}")
    if state["model_config"] != config_to_dict(model.config):
        raise CheckpointError(f"cannot resume from {name}: it holds another network configuration")


def _seed_epoch(generator: torch.Generator, seed: int, epoch: int, rank: int) -> None:
    """Seed this epoch's augmentation (``generator``) and dropout (torch's global RNG) from
    ``(seed, epoch, rank)`` alone, so epoch ``e`` draws the same numbers whether the run
    started at epoch 1 or resumed at ``e``."""
    aug, drop = np.random.SeedSequence([seed, epoch, rank]).generate_state(2)
    generator.manual_seed(int(aug))
    torch.manual_seed(int(drop))


def _stop_non_finite(model, state: TrainState, what, value, epoch, checkpoint_path, step=None):
    """Put the kept weights back in ``model`` and raise :class:`NonFiniteLossError` (one line)."""
    if state.best_state_dict is not None:
        model.load_state_dict(state.best_state_dict)
    where = f"epoch {epoch}" + (f", step {step}" if step else "")
    if state.best_epoch and checkpoint_path is not None:
        kept = (f"kept the best checkpoint (epoch {state.best_epoch}) at {checkpoint_path} and the last good epoch "
                "next to it")
    elif state.best_epoch:
        kept = f"the model holds the best epoch ({state.best_epoch})"
    else:
        kept = "no epoch finished with a finite loss, so no checkpoint was written"
    raise NonFiniteLossError(f"training stopped: the {what} became {value} at {where}; {kept}. "
                             "Check the inputs for non-finite values or lower the learning rate",
                             what=what, value=float(value), epoch=epoch, step=step or None, kept_epoch=state.best_epoch)


def _forward_backward(model, x, targets, labels, micro_batch, accum, amp_dtype, scaler, label_smoothing, sync=True,
                      objective=None):
    """Forward + backward of one loader batch in micro-batches of ``micro_batch`` crops;
    gradients are scaled so the sum equals one ``len(x) * accum``-crop batch's mean.

    Under DistributedDataParallel the gradients are averaged over ranks only on the last
    micro-batch of an optimizer step (``sync``); the others run in ``no_sync``."""
    total_loss, hits = 0.0, 0
    chunks = list(zip(x.split(micro_batch), targets.split(micro_batch), labels.split(micro_batch)))
    for i, (xs, ts, ys) in enumerate(chunks):
        deferred = isinstance(model, DistributedDataParallel) and not (sync and i == len(chunks) - 1)
        with model.no_sync() if deferred else contextlib.nullcontext():
            with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logits = model(xs)
            if objective is not None:
                loss = objective.loss(logits.float(), ts, label_smoothing)
                hits += objective.hits(logits, ys)
            else:
                loss = F.cross_entropy(logits.float(), ts, reduction="sum", label_smoothing=label_smoothing)
                hits += int((logits.argmax(1) == ys).sum())
            scaler.scale(loss / (len(x) * accum)).backward()
        total_loss += float(loss.detach())
    return total_loss / len(x), hits


def _prepare(model: nn.Module, device: torch.device, channels_last: bool) -> None:
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)


def _plain_config(cfg: TrainConfig) -> dict:
    values = cfg.to_dict()
    values["device"] = None if values["device"] is None else str(values["device"])
    return values


def _fmt(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.0f}h {(seconds % 3600) / 60:.0f}m"
