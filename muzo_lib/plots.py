"""Figures shared by several notebooks. Each function draws on a new or given axes and
returns the matplotlib Figure, so notebooks can show it and runs can save it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_confusion_matrix(confusion, classes: list[str], title: str = "Confusion matrix",
                          normalize: bool = True, ax=None):
    """Heat map of a confusion matrix (rows = true class). ``normalize`` shows each row as
    fractions of that class's tracks, with the raw counts written in the cells."""
    counts = np.asarray(confusion, dtype=float)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    if ax is None:
        size = 1.0 + 0.55 * len(classes)
        fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class" if normalize else "tracks")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                        color="white" if shown[i, j] > 0.5 * shown.max() else "black", fontsize=8)
    ax.figure.tight_layout()
    return ax.figure
