"""The hierarchical confusion figure: subgenres grouped in genre blocks (notebook 06)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .plots import plot_confusion_matrix


def plot_hierarchical_confusion(confusion, tree, title: str = "Subgenre confusion, grouped by genre", ax=None):
    """Heat map of a subgenre confusion matrix (rows = true subgenre, fraction of its tracks,
    counts written in the cells) with a frame around each genre's block: counts inside a
    block are errors that stay inside the right genre, counts outside it are genre errors.

    Args:
        confusion: ``(S, S)`` counts in ``tree.subgenres`` order
            (:func:`muzo_lib.hierarchy.subgenre_confusion`).
        tree: the :class:`~muzo_lib.hierarchy.ClassTree`.
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
