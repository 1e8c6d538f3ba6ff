"""TensorBoard event files of a training run, where ``tensorboard`` is installed.

:func:`~muzo_lib.training.loop.fit` writes one point per epoch of the training and validation
loss, the training and validation accuracy (%) and the learning rate, through
``torch.utils.tensorboard`` (which needs the ``tensorboard`` package: ``pip install
'muzo[tensorboard]'``). Without it, training runs as before and says so in one line.
Open the files with ``tensorboard --logdir runs/course/tensorboard`` (one curve per model).

Example:
    >>> events = EventFiles.open("runs/course/tensorboard/cnn")
    >>> events.write_epoch(state.history); events.close()
"""
from __future__ import annotations

import os
from pathlib import Path

from muzo_lib.io.log import get_logger

#: TensorBoard tag -> :data:`~muzo_lib.training.state.HISTORY_KEYS` entry
SCALARS = {"loss/train": "train_loss", "loss/validation": "val_loss", "accuracy/train": "train_acc",
           "accuracy/validation": "val_acc", "learning_rate": "lr"}

_said_missing = False   # the "not installed" line is said once per process, not once per model


class EventFiles:
    """Per-epoch scalars for TensorBoard, or nothing at all (no folder, or no ``tensorboard``)."""

    def __init__(self, writer=None):
        self.writer = writer

    @classmethod
    def open(cls, folder: str | os.PathLike | None, say=None) -> "EventFiles":
        """Event files in ``folder`` (created); ``None`` or a missing ``tensorboard``: none
        (the latter said once through ``say``, default the ``muzo`` logger)."""
        global _said_missing
        if folder is None:
            return cls()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if not _said_missing:
                (say or get_logger(__name__).info)("📉 TensorBoard event files are not written: tensorboard is not "
                                                  "installed (pip install tensorboard)")
                _said_missing = True
            return cls()
        Path(folder).expanduser().mkdir(parents=True, exist_ok=True)
        return cls(SummaryWriter(log_dir=str(Path(folder).expanduser())))

    def write_epoch(self, history: dict) -> None:
        """The last epoch of ``history`` (a :class:`~muzo_lib.training.state.TrainState`'s), flushed to disk."""
        if self.writer is None:
            return
        epoch = int(history["epoch"][-1])
        for tag, key in SCALARS.items():
            self.writer.add_scalar(tag, history[key][-1], epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
