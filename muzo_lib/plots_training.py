"""Figures of network training: learning curves, the learning rate, misclassified tracks,
and the seed-head vs pooled-head comparison. Each returns its matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .spectrogram import MelConfig


def plot_learning_curves(history: dict, title: str = "Learning curves", best_epoch: int | None = None):
    """Loss (left) and accuracy (right) per epoch: training crops vs validation tracks.

    A widening gap between training and validation is overfitting; ``best_epoch`` (the
    checkpoint kept) is marked with a dashed line.
    """
    epochs = history["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train (random crops)")
    ax_loss.plot(epochs, history["val_loss"], "s-", label="validation (all segments)")
    ax_loss.set_ylabel("cross-entropy")
    ax_acc.plot(epochs, history["train_acc"], "o-", label="train crops")
    ax_acc.plot(epochs, history["val_segment_acc"], "^-", label="validation segments")
    ax_acc.plot(epochs, history["val_acc"], "s-", label="validation tracks")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 100)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        if best_epoch:
            ax.axvline(best_epoch, color="gray", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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


def misclassified(evaluation: dict, limit: int = 4) -> list[int]:
    """Indices of wrongly predicted tracks, most confident mistakes first."""
    wrong = np.flatnonzero(evaluation["predictions"] != evaluation["labels"])
    confidence = evaluation["track_probs"][wrong, evaluation["predictions"][wrong]]
    return [int(i) for i in wrong[np.argsort(-confidence)][:limit]]


def plot_misclassified(evaluation: dict, tracks, classes: list[str], mel_config: MelConfig | None = None,
                       limit: int = 4):
    """Log-mel spectrograms of the most confidently misclassified tracks, titled
    ``true -> predicted (probability)``; ``None`` when every track was right."""
    picks = misclassified(evaluation, limit)
    if not picks:
        return None
    mel = mel_config or MelConfig()
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.2), squeeze=False)
    for ax, i in zip(axes[0], picks):
        logmel = np.asarray(tracks.logmels[i], dtype=np.float32)
        ax.imshow(logmel, origin="lower", aspect="auto", cmap="magma",
                  extent=[0, mel.seconds(logmel.shape[-1]), 0, logmel.shape[0]])
        pred = evaluation["predictions"][i]
        ax.set_title(f"{tracks.names[i]}\n{classes[evaluation['labels'][i]]} -> {classes[pred]} "
                     f"({evaluation['track_probs'][i, pred]:.2f})", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel band")
    fig.suptitle("Misclassified test tracks (true -> predicted)")
    fig.tight_layout()
    return fig


def plot_head_comparison(table, title: str = "Seed head vs pooled head"):
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
