"""Figures of scores: the confusion matrix, models and fusions side by side, train vs test
under different splits, and the genre probabilities of single files."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


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


def plot_model_comparison(table: pd.DataFrame, classes: list[str]):
    """Left: accuracy and macro F1 per model / fusion; right: per-class F1 as a heat map
    (``table`` from :func:`muzo_lib.inference.ensemble.compare_models`, values in percent)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.5 * len(table) + 2.5),
                                      gridspec_kw={"width_ratios": [1, 1.4]})
    y = np.arange(len(table))
    left.barh(y - 0.2, table.accuracy, height=0.4, label="accuracy")
    left.barh(y + 0.2, table.macro_f1, height=0.4, label="macro F1")
    for yi, (a, f) in enumerate(zip(table.accuracy, table.macro_f1)):
        left.text(a + 1, yi - 0.2, f"{a:.0f}", va="center", fontsize=7)
        left.text(f + 1, yi + 0.2, f"{f:.0f}", va="center", fontsize=7)
    left.set_yticks(y, table.index)
    left.invert_yaxis()
    left.set_xlim(0, 110)
    left.set_xlabel("% (test tracks)")
    left.legend(loc="lower right", fontsize=8)
    f1 = table[[f"f1 {c}" for c in classes]].to_numpy()
    im = right.imshow(f1, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    right.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    right.set_yticks(y, table.index)
    for i in range(f1.shape[0]):
        for j in range(f1.shape[1]):
            right.text(j, i, f"{f1[i, j]:.0f}", ha="center", va="center", fontsize=7,
                       color="white" if f1[i, j] < 60 else "black")
    fig.colorbar(im, ax=right, label="F1 %")
    right.set_title("per-class F1")
    fig.tight_layout()
    return fig


def plot_split_comparison(names: list[str], train: list[float], test: list[float], title: str = ""):
    """Grouped bars: train vs test accuracy (percent) under different splits."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, train, 0.4, label="train")
    ax.bar(pos + 0.2, test, 0.4, label="test")
    for p, v in zip(pos, test):
        ax.text(p + 0.2, v + 1, f"{v:.1f}", ha="center", fontsize=9)
    ax.set_xticks(pos, names, fontsize=9)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 110)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_probability_bars(results: list, classes: list[str], max_files: int = 8):
    """One small bar chart of genre probabilities per file (the :class:`~muzo_lib.models.result.Prediction`
    list :func:`~muzo_lib.inference.prediction.predict_files` returns; files that failed say so in their panel's title)."""
    results = results[:max_files]
    cols = min(4, len(results)) or 1
    rows = int(np.ceil(len(results) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.axis("off")
    for ax, r in zip(axes.flat, results):
        name = r.path.replace("\\", "/").split("/")[-1]
        if not r.ok:
            ax.set_title(f"{name}\nunreadable", fontsize=8, color="red")
            ax.axis("off")
            continue
        p = np.array([r.probabilities[c] for c in classes])
        colors = ["tab:orange" if c == r.genre else "tab:blue" for c in classes]
        ax.barh(classes, p, color=colors)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"{name}\n-> {r.genre} ({100 * r.confidence:.0f}%)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_accuracies(table, title: str = "", ax=None):
    """Horizontal bars of ``table.accuracy`` with their 95% intervals (``ci_low``, ``ci_high``), percent."""
    ax = ax or plt.subplots(figsize=(7, 0.45 * len(table) + 1.2))[1]
    y = np.arange(len(table))
    err = np.vstack([table.accuracy - table.ci_low, table.ci_high - table.accuracy])
    ax.barh(y, table.accuracy, xerr=err, color="tab:blue", alpha=0.8, capsize=4)
    ax.set_yticks(y, list(table.index))
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("track accuracy (%), 95% interval")
    ax.set_title(title)
    return ax


def plot_hierarchical_confusion(confusion, tree, title: str = "Subgenre confusion, grouped by genre", ax=None):
    """Heat map of a subgenre confusion matrix (rows = true subgenre, fraction of its tracks,
    counts written in the cells) with a frame around each genre's block: counts inside a
    block are errors that stay inside the right genre, counts outside it are genre errors.

    Args:
        confusion: ``(S, S)`` counts in ``tree.subgenres`` order
            (:func:`muzo_lib.models.hierarchy.subgenre_confusion`).
        tree: the :class:`~muzo_lib.models.hierarchy.ClassTree`.
    """
    fig = plot_confusion_matrix(confusion, list(tree.subgenres), title=title, ax=ax)
    ax = fig.axes[0]
    parent = tree.parent
    for g in range(len(tree.genres)):
        kids = np.flatnonzero(parent == g)
        if len(kids):
            lo, hi = kids.min() - 0.5, kids.max() + 0.5
            ax.add_patch(plt.Rectangle((lo, lo), hi - lo, hi - lo, fill=False, edgecolor="crimson", linewidth=1.8))
    return fig
