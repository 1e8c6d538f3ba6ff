"""Figures of notebook 05: what a pretrained network hears, and how models compare with intervals."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_taggram(tags: np.ndarray, tag_names: list[str], patch_seconds: float, top: int = 12, title: str = "", ax=None):
    """Tag probabilities over time ``(patches, tags)`` for the ``top`` tags of the clip (by mean)."""
    order = np.argsort(-tags.mean(axis=0))[:top]
    ax = ax or plt.subplots(figsize=(7, 0.28 * top + 1.2))[1]
    image = ax.imshow(tags[:, order].T, aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest",
                      extent=(0, len(tags) * patch_seconds, top - 0.5, -0.5))
    ax.set_yticks(range(top), [tag_names[i] for i in order])
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="tag probability", fraction=0.03)
    return ax


def plot_embedding_maps(maps: dict[str, np.ndarray], genres, title: str = ""):
    """Side-by-side 2-D maps (e.g. PCA of each feature set), one colour per genre."""
    genres = np.asarray(genres)
    names = sorted(set(genres))
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    fig, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps), 4.2), squeeze=False)
    for ax, (label, xy) in zip(axes[0], maps.items()):
        for i, genre in enumerate(names):
            points = xy[genres == genre]
            ax.scatter(points[:, 0], points[:, 1], s=18, color=colours(i), label=genre, alpha=0.85)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title)
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
