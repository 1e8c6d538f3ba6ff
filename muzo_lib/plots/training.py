"""Figures of training: learning curves, the learning rate, train/valid gap against a knob,
the most confidently misclassified tracks, and the flatten-head vs pooled-head comparison."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .spectrograms import show_logmel


def plot_learning_curves(history: dict, title: str = "Learning curves", best_epoch=None, stopped_early: bool = False):
    """Loss (left) and accuracy (right, %) per epoch: training crops vs validation.

    A widening gap between training and validation is overfitting.

    Args:
        history: one run's history (:attr:`muzo_lib.training.loop.TrainResult.history`: ``epoch``,
            ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` and ``val_segment_acc``,
            accuracies in percent), or ``{name: history}`` for several runs on the same axes,
            one colour per run, training solid and validation dashed.
        title: the figure title.
        best_epoch: the epoch whose checkpoint was kept, or ``{name: epoch}`` for several
            runs; marked with a vertical line.
        stopped_early: one run only: early stopping ended it, marked at its last epoch.
            One run's learning-rate cuts (epochs whose ``lr`` is below the one before) are
            marked with dotted lines.

    Returns:
        The matplotlib Figure.
    """
    several = "epoch" not in history
    runs = history if several else {"": history}
    kept = best_epoch if isinstance(best_epoch, dict) else {"": best_epoch}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.6 if several else 4.2))
    for i, (name, h) in enumerate(runs.items()):
        epochs = h["epoch"]
        if several:
            color = f"C{i}"
            ax_loss.plot(epochs, h["train_loss"], "o-", color=color, label=f"{name} train")
            ax_loss.plot(epochs, h["val_loss"], "s--", color=color, label=f"{name} validation")
            ax_acc.plot(epochs, h["train_acc"], "o-", color=color, label=f"{name} train crops")
            ax_acc.plot(epochs, h["val_acc"], "s--", color=color, label=f"{name} validation tracks")
        else:
            color = "gray"
            ax_loss.plot(epochs, h["train_loss"], "o-", label="train (random crops)")
            ax_loss.plot(epochs, h["val_loss"], "s-", label="validation (all segments)")
            ax_acc.plot(epochs, h["train_acc"], "o-", label="train crops")
            ax_acc.plot(epochs, h["val_segment_acc"], "^-", label="validation segments")
            ax_acc.plot(epochs, h["val_acc"], "s-", label="validation tracks")
        if kept.get(name):
            for ax in (ax_loss, ax_acc):
                ax.axvline(kept[name], color=color, ls="--", lw=1, label=f"{name} kept: epoch {kept[name]}".strip())
        if not several:
            _mark_schedule(h, (ax_loss, ax_acc), stopped_early)
    ax_loss.set_ylabel("cross-entropy")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 100)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)  # below: off the curves
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _mark_schedule(history: dict, axes, stopped_early: bool) -> None:
    """Dotted lines where ReduceLROnPlateau cut the rate, a cross where early stopping fired."""
    lr, epochs = history.get("lr", []), history["epoch"]
    cuts = [e for e, a, b in zip(epochs[1:], lr, lr[1:]) if b < a]
    for ax in axes:
        for i, epoch in enumerate(cuts):
            ax.axvline(epoch, color="C3", ls=":", lw=1.2, label="learning rate halved" if i == 0 else None)
    if stopped_early and len(epochs):
        axes[0].plot(epochs[-1], history["val_loss"][-1], "X", color="C3", ms=10, label="early stop")


def plot_learning_rate(history: dict, title: str = "Learning rate (ReduceLROnPlateau)"):
    """The learning rate used in each epoch, log scale: each step down is a plateau cut."""
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.step(history["epoch"], history["lr"], where="post", marker="o")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def plot_gap(frame: pd.DataFrame, x: str, curves=("train_accuracy", "valid_accuracy"), title: str = "", ax=None,
             n: int | None = None):
    """Accuracy curves (percent) against one knob (tree depth, leaf size, train tracks...).

    ``n``: the held-out tracks behind each non-training curve; their 95% intervals (Wilson) are
    then shaded, so a learner sees which moves a few dozen tracks can resolve.
    """
    from muzo_lib.evaluation.metrics import accuracy_interval

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
    labels = [str(v) for v in frame[x]]
    for curve in curves:
        values = frame[curve].to_numpy()
        line, = ax.plot(labels, values, marker="o", label=curve.replace("_accuracy", ""))
        if n and not curve.startswith("train"):
            low, high = np.array([accuracy_interval(v, n) for v in values]).T
            ax.fill_between(labels, low, high, color=line.get_color(), alpha=0.15, lw=0,
                            label=f"{curve.replace('_accuracy', '')}: 95% interval ({n} tracks)")
    ax.set_xlabel(x)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.figure.tight_layout()
    return ax.figure


def misclassified(evaluation: dict, limit: int = 4) -> list[int]:
    """Indices of wrongly predicted tracks, most confident mistakes first."""
    wrong = np.flatnonzero(evaluation["predictions"] != evaluation["labels"])
    confidence = evaluation["track_probs"][wrong, evaluation["predictions"][wrong]]
    return [int(i) for i in wrong[np.argsort(-confidence)][:limit]]


def plot_misclassified(evaluation: dict, tracks, classes: list[str], mel_config=None, limit: int = 4):
    """Log-mel spectrograms of the most confidently misclassified tracks, titled
    ``true -> predicted (probability)``; ``None`` when every track was right.

    ``mel_config`` is the :class:`muzo_lib.features.spectrogram.MelConfig` the log-mels were made
    with (default ``MelConfig()``), for the time (s) and frequency (Hz) axes.
    """
    picks = misclassified(evaluation, limit)
    if not picks:
        return None
    if mel_config is None:
        from muzo_lib.features.spectrogram import MelConfig
        mel_config = MelConfig()
    fig, axes = plt.subplots(1, len(picks), figsize=(4.2 * len(picks), 3.2), squeeze=False)
    for ax, i in zip(axes[0], picks):
        pred = evaluation["predictions"][i]
        show_logmel(tracks.logmels[i], mel_config, ax=ax,
                    title=f"{tracks.names[i]}\n{classes[evaluation['labels'][i]]} -> {classes[pred]} "
                          f"({evaluation['track_probs'][i, pred]:.2f})")
    fig.suptitle("Misclassified test tracks (true -> predicted)")
    fig.tight_layout()
    return fig


def plot_head_comparison(table, title: str = "Flatten head (the seed document's) vs pooled head"):
    """Bars for each model of ``table`` (a DataFrame indexed by model name with columns
    ``parameters``, ``train crops/s``, ``test accuracy (%)``, ``train - valid gap (points)``)."""
    columns = ["parameters", "train crops/s", "test accuracy (%)", "train - valid gap (points)"]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.0))
    for ax, column in zip(axes, columns):
        ax.bar(table.index.astype(str), table[column], color=["tab:blue", "tab:orange", "tab:green"][:len(table)])
        ax.set_title(column, fontsize=10)
        if column == "parameters":
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
