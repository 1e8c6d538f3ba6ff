"""The ``musicnn-finetune`` kind's training: musicnn's body with a new head, through the networks' path.

Training is :func:`muzo_lib.course.members.train_on_run` (``fit``: crops of cached log-mels,
augmentation, early stopping, checkpoints, resume, DDP) with three things fixed by musicnn:

- the log-mel is :data:`~muzo_lib.models.pretrained.finetune.MUSICNN_INPUT` (16 kHz, FFT 512,
  hop 256, 96 bands, dB without ``top_db``), whatever the caller's; the checkpoint carries it,
  so ``muzo predict`` and ``load_model`` make the same input from a file;
- the library's default 3 s crop becomes musicnn's 187-frame patch
  (:data:`~muzo_lib.models.pretrained.finetune.PATCH_SECONDS`, 2.976 s); another length is kept;
- without a ``warmup_steps`` of its own, the LR warms up over one epoch's optimizer steps
  (at most :data:`MAX_WARMUP_STEPS`): the new head's first, random gradients then do not
  shake the pretrained layers.
"""
from __future__ import annotations

import math
from dataclasses import asdict

from muzo_lib.course.members import course_train_config, network_folds, train_network
from muzo_lib.models.pretrained.finetune import MUSICNN_INPUT, PATCH_SECONDS
from muzo_lib.training.loop import TrainConfig

#: Most optimizer steps of the default warm-up.
MAX_WARMUP_STEPS = 500


def finetune_train_config(config: TrainConfig | None, n_train: int) -> TrainConfig:
    """``config`` with musicnn's crop length and, unless it has one, a warm-up of one epoch.

    Args:
        config: the caller's settings (``None``: :func:`~muzo_lib.course.members.course_train_config`).
        n_train: training tracks (an epoch has ``n_train * crops_per_track`` crops).
    """
    cfg = config or course_train_config()
    changes = {}
    if cfg.segment_seconds == TrainConfig.segment_seconds:
        changes["segment_seconds"] = PATCH_SECONDS
    if cfg.warmup_steps == 0:
        steps = math.ceil(math.ceil(n_train * cfg.crops_per_track / cfg.batch_size) / cfg.grad_accum_steps)
        changes["warmup_steps"] = max(1, min(MAX_WARMUP_STEPS, steps))
    return TrainConfig(**{**asdict(cfg), **changes})


def _check_mel(mel_config) -> None:
    if mel_config is not None and mel_config != MUSICNN_INPUT:
        raise ValueError("musicnn-finetune uses musicnn's own log-mel (16 kHz, FFT 512, hop 256, 96 bands, no top_db); "
                         "leave mel_config unset")


def train_finetuned(run, path, seed: int, architecture: str = "musicnn-finetune", train_config=None, mel_config=None,
                    model_options: dict | None = None, progress: bool = True, resume: bool | str = False, **_) -> dict:
    """:func:`~muzo_lib.course.members.train_member`'s arguments; ``model_options`` are
    :class:`~muzo_lib.models.pretrained.finetune.FinetuneConfig` fields (``pretrained``,
    ``finetune``, ``features``, ``body_lr_factor``, ``dropout``). Genre level only."""
    _check_mel(mel_config)
    cfg = finetune_train_config(train_config, int((run.tracks.split == "train").sum()))
    return train_network(run, path, seed, architecture=architecture, train_config=cfg, mel_config=MUSICNN_INPUT,
                         model_options=model_options, progress=progress, resume=resume, levels="genre")


def finetune_folds(run, seed: int, architecture: str = "musicnn-finetune", train_config=None,
                   model_options: dict | None = None, progress: bool = True, **_):
    """Cross-validation: :func:`~muzo_lib.course.members.network_folds` on musicnn's own log-mels
    (a ``mel_config`` or ``logmels`` given for the other kinds are not musicnn's input: ignored)."""
    cfg = finetune_train_config(train_config, int(0.8 * len(run.tracks)))
    return network_folds(run, seed, architecture=architecture, train_config=cfg, mel_config=MUSICNN_INPUT,
                         model_options=model_options, progress=progress)
