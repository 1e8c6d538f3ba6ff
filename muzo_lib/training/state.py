"""What the training loop carries from one epoch to the next, in one object.

:class:`TrainState` holds the per-epoch history, the kept (best) epoch and its weights, the
early-stopping counter and the micro-batch that CUDA out-of-memory back-off settled on. The
last checkpoint saves it whole (:meth:`TrainState.to_resume`) and a resumed run starts from
it (:meth:`TrainState.from_resume`), so a new counter is one new field here, not four edits
in :func:`~muzo_lib.training.loop.fit`.

Example:
    >>> state = TrainState()
    >>> state.record(epoch=1, train_loss=1.2, train_acc=40.0, val_loss=1.0, val_acc=50.0,
    ...              val_segment_acc=45.0, val_macro_f1=48.0, lr=1e-3, epoch_time=2.5)
    >>> state.judge(1.0, model)           # lower is better: the first epoch is the best so far
    True
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

#: one list per key in :attr:`TrainState.history`, one value per finished epoch (losses are
#: mean cross-entropies, accuracies and macro F1 percentages, ``lr`` the rate the epoch
#: trained with, ``epoch_time`` seconds)
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_segment_acc", "val_macro_f1", "lr",
                "epoch_time")

#: how much lower a validation score must be to count as better, for the LR schedule and the
#: best checkpoint / early stopping alike (one rule, so the two counters in the log agree)
IMPROVEMENT = 1e-6


def empty_history() -> dict:
    return {key: [] for key in HISTORY_KEYS}


@dataclass
class TrainState:
    """The loop's state after ``epoch`` finished epochs.

    Attributes:
        epoch: the last finished epoch (0 before the first).
        history: :data:`HISTORY_KEYS` -> one float per finished epoch.
        best_epoch: the epoch whose weights are kept (0: none yet).
        best_score: that epoch's monitored score, lower is better (``val_loss`` or ``-val_acc``).
        bad_epochs: epochs since the last improvement (the early-stopping counter).
        best_state_dict: the kept epoch's weights.
        micro_batch: crops per forward pass after out-of-memory back-off halved it
            (``None``: ``TrainConfig.batch_size``, nothing halved).
    """
    epoch: int = 0
    history: dict = field(default_factory=empty_history)
    best_epoch: int = 0
    best_score: float = math.inf
    bad_epochs: int = 0
    best_state_dict: dict | None = None
    micro_batch: int | None = None

    def record(self, **scores: float) -> None:
        """Append one finished epoch's scores (every :data:`HISTORY_KEYS` entry, ``epoch`` included)."""
        self.epoch = int(scores["epoch"])
        for key in HISTORY_KEYS:
            self.history[key].append(float(scores[key]))

    def judge(self, score: float, model) -> bool:
        """Count the epoch just recorded, whose monitored ``score`` is given (lower is better):
        ``True`` when it beats the kept one by more than :data:`IMPROVEMENT` (its weights,
        copied from ``model``, are kept from now on), else the patience counter grows."""
        if score < self.best_score - IMPROVEMENT:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            self.best_state_dict = copy.deepcopy(model.state_dict())
            return True
        self.bad_epochs += 1
        return False

    def out_of_patience(self, patience: int) -> bool:
        """Early stopping's test: ``patience`` epochs in a row without improvement."""
        return self.bad_epochs >= patience

    def kept(self, key: str) -> float:
        """The kept epoch's value of history entry ``key`` (e.g. ``"val_acc"``)."""
        return self.history[key][self.history["epoch"].index(self.best_epoch)]

    def to_resume(self) -> dict:
        """Every field as plain values and CPU tensors (what ``torch.load(weights_only=True)``
        reads back); the kept weights are left out (``None``) when they are the last epoch's,
        which the checkpoint holds anyway."""
        best = None if self.best_epoch == self.epoch or self.best_state_dict is None else \
            {k: v.detach().cpu() for k, v in self.best_state_dict.items()}
        return {"epoch": self.epoch, "history": self.history, "best_epoch": self.best_epoch,
                "best_score": self.best_score, "bad_epochs": self.bad_epochs, "best_state_dict": best,
                "micro_batch": self.micro_batch}

    @classmethod
    def from_resume(cls, saved: dict) -> "TrainState":
        """The state :meth:`to_resume` wrote, from :func:`~muzo_lib.training.checkpoints.load_training_state`'s
        dict (whose ``state_dict``, the last weights, stands in for ``best_state_dict: None``).
        A field missing from a file written before it existed takes its default."""
        default = cls()
        history = saved.get("history")
        return cls(epoch=int(saved.get("epoch", default.epoch)),
                   history={k: [float(v) for v in values] for k, values in history.items()} if history
                   else default.history,
                   best_epoch=int(saved.get("best_epoch", default.best_epoch)),
                   best_score=float(saved.get("best_score", default.best_score)),
                   bad_epochs=int(saved.get("bad_epochs", default.bad_epochs)),
                   best_state_dict=saved.get("best_state_dict") or saved.get("state_dict"),
                   micro_batch=saved.get("micro_batch", default.micro_batch))
