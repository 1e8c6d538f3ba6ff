"""Save and load network checkpoints: weights plus everything needed to use them.

A checkpoint is one ``torch.save`` file holding only plain values and tensors, so it
loads with ``torch.load(..., weights_only=True)`` (no pickled code runs). It carries the
model config, the log-mel :class:`MelConfig`, the class list and the crop length, so
the file alone is enough to predict. Writing is atomic: an interrupted save leaves the
previous file. In a torchrun job only rank 0 writes (every rank holds the same weights).

During training :func:`muzo_lib.training.loop.fit` keeps two files: the best epoch's model at
the path asked for, and the last epoch's at :func:`last_checkpoint_path` (``cnn.pt`` ->
``cnn.last.pt``). The last one is a normal checkpoint (``muzo predict`` reads it) that
also carries ``resume``: the optimizer, scheduler and GradScaler states, the epoch, the
history and the early-stopping counters, all plain values and tensors, read back by
:func:`load_training_state` with ``weights_only=True`` like the weights.

Example:
    >>> save_checkpoint("runs/course/models/cnn.pt", model, MelConfig(), classes, segment_seconds=3.0)
    >>> ckpt = load_checkpoint("runs/course/models/cnn.pt", architecture="cnn")
    >>> ckpt.model, ckpt.classes, ckpt.mel_config
    >>> load_training_state("runs/course/models/cnn.last.pt")["epoch"]   # where a resumed run goes on
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.io.paths import atomic_write
from muzo_lib.models.networks import build_model, config_from_dict, config_to_dict
from muzo_lib.training.distributed import current as current_process

FORMAT = "muzo-network-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable Muzo checkpoint, or not the one expected (one line)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt network (eval mode, on CPU) and its settings."""
    model: nn.Module
    model_config: object
    mel_config: MelConfig
    classes: list[str]
    segment_seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return self.model_config.architecture


def last_checkpoint_path(path: str | os.PathLike) -> Path:
    """Where training keeps its last epoch (and resume state) next to the best model ``path``."""
    path = Path(path).expanduser()
    return path.with_name(f"{path.stem}.last{path.suffix or '.pt'}")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, mel_config: MelConfig, classes,
                    segment_seconds: float, extra: dict | None = None, resume: dict | None = None) -> Path:
    """Write ``model``'s weights and settings to ``path`` atomically.

    Args:
        path: target file (``.pt``/``.pth``), relative to the current directory.
        model: a network from :mod:`muzo_lib.models.networks` (it has a ``config``).
        mel_config: the log-mel settings its inputs were made with.
        classes: class names, in the order of the model's outputs.
        segment_seconds: crop length the model was trained on, seconds.
        extra: plain JSON-like values to keep alongside (metrics, history, name).
        resume: training state to continue from (dicts, lists, numbers, strings and
            tensors only: what ``torch.load(weights_only=True)`` accepts), see
            :func:`load_training_state`.

    Returns:
        The absolute path written (in a torchrun job, rank 0 writes it; the others return
        the same path without writing).
    """
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "model_config": config_to_dict(model.config),
               "mel_config": mel_config.to_dict(), "classes": [str(c) for c in classes],
               "segment_seconds": float(segment_seconds), "state_dict": state, "extra": _plain(extra or {})}
    if len(payload["classes"]) != model.config.n_classes:
        raise ValueError(f"{len(payload['classes'])} class names for a model with {model.config.n_classes} outputs")
    if resume is not None:
        payload["resume"] = resume
    if not current_process().is_main:
        return Path(path).expanduser()
    return atomic_write(Path(path).expanduser(), lambda tmp: torch.save(payload, tmp))


def _plain(values: dict) -> dict:
    """``values`` as plain JSON types (numpy scalars -> numbers), which weights_only loading accepts."""
    return json.loads(json.dumps(values, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def load_checkpoint(path: str | os.PathLike, architecture: str | None = None, classes=None) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` and rebuild its network.

    Args:
        path: the file, relative to the current directory.
        architecture: if given (``"cnn"``/``"hybrid"``), the file must hold that architecture.
        classes: if given, the file's class list must be exactly this one.

    Raises:
        CheckpointError: with one line: missing file, not a Muzo checkpoint, another
            architecture, other classes, or weights that do not fit the stored config.
    """
    payload, path = _read(path)
    try:
        config = config_from_dict(payload["model_config"])
        mel = MelConfig(**payload["mel_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: damaged checkpoint settings ({exc})") from None
    if architecture is not None and config.architecture != architecture:
        raise CheckpointError(f"{path.name} holds a '{config.architecture}' network, not '{architecture}'")
    stored = list(payload["classes"])
    if classes is not None and list(classes) != stored:
        raise CheckpointError(f"{path.name} was trained on classes {stored}, not {list(classes)}")
    model = build_model(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path.name}: weights do not fit its {config.architecture} config "
                              f"({str(exc).splitlines()[0][:120]})") from None
    return Checkpoint(model=model.eval(), model_config=config, mel_config=mel, classes=stored,
                      segment_seconds=float(payload["segment_seconds"]), extra=payload.get("extra", {}))


def load_training_state(path: str | os.PathLike) -> dict:
    """The resume state of a last checkpoint (see the module doc), with its weights.

    Returns:
        dict: ``state_dict`` (the last epoch's weights), ``model_config``, ``mel_config``,
        ``classes``, ``segment_seconds`` and the ``resume`` entries (``epoch``, ``optimizer``,
        ``scheduler``, ``scaler``, ``history``, ``best_epoch``, ``best_score``, ``bad_epochs``,
        ``best_state_dict`` or ``None`` when the best epoch is the last, ``micro_batch``,
        ``train_config``).

    Raises:
        CheckpointError: a missing or foreign file, or a checkpoint without resume state
            (a best-model file, or one saved after training).
    """
    payload, path = _read(path)
    if not isinstance(payload.get("resume"), dict):
        raise CheckpointError(f"{path.name}: holds no training state to resume from (not a '.last' checkpoint)")
    return {**payload["resume"], **{k: payload[k] for k in ("state_dict", "model_config", "mel_config", "classes",
                                                           "segment_seconds")}}


def _read(path: str | os.PathLike) -> tuple[dict, Path]:
    """The raw payload of a Muzo checkpoint, loaded weights-only, and its resolved path."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # foreign pickles make torch warn before it refuses them
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways on foreign files; all mean the same here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name}: not a Muzo checkpoint (cannot be read safely: {reason[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a Muzo checkpoint (no '{FORMAT}' marker)")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path.name}: written by a newer Muzo (format version {payload['version']})")
    return payload, path
