"""Figures of hand-made features (notebook 02): their spread per genre, their correlations,
and which of them the Random Forest uses."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_feature_distributions(table: pd.DataFrame, features: list[str], genre_column: str = "genre", ncols: int = 3):
    """One box plot per feature, a box per genre: which descriptors separate genres."""
    genres = sorted(table[genre_column].unique())
    nrows = int(np.ceil(len(features) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, features):
        ax.boxplot([table.loc[table[genre_column] == g, name].to_numpy() for g in genres], showfliers=False)
        ax.set_xticks(range(1, len(genres) + 1), genres, rotation=45, ha="right", fontsize=8)
        ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(features):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_feature_correlations(table: pd.DataFrame, features: list[str], title: str = "Feature correlations (Pearson r)"):
    """Heat map of the pairwise Pearson correlation of ``features`` over tracks."""
    corr = table[features].corr().to_numpy()
    size = 3 + 0.16 * len(features)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="r")
    ax.set_xticks(range(len(features)), features, rotation=90, fontsize=6)
    ax.set_yticks(range(len(features)), features, fontsize=6)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_feature_importance(impurity: pd.Series, permutation: pd.Series, permutation_std: pd.Series | None = None,
                            top: int = 15, one_track: float | None = None):
    """Side by side: mean decrease in impurity (what the trees split on, from training
    data) and permutation importance (accuracy lost on held-out tracks when a feature is
    shuffled), for the ``top`` features of each.

    The permutation panel lists only features whose shuffling changed the accuracy at all
    (the others are a row of zeros), with their spread over repeats; ``one_track`` (points)
    draws the change that one held-out track makes, the smallest a score can resolve.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * top + 1.5))
    imp = impurity.sort_values().tail(top)
    axes[0].barh(imp.index, imp.to_numpy(), color="tab:blue")
    axes[0].set_title("impurity importance (train)")
    axes[0].set_xlabel("mean decrease in impurity")
    moved = permutation[permutation.abs() > 1e-9]
    perm = moved.sort_values().tail(top)
    err = None if permutation_std is None else permutation_std.loc[perm.index].to_numpy()
    axes[1].barh(perm.index, perm.to_numpy(), xerr=err, color="tab:orange", label="mean drop +- sd over shuffles")
    axes[1].axvline(0, color="k", lw=0.8)
    if one_track:
        axes[1].axvline(one_track, color="tab:red", ls="--", lw=1, label=f"one held-out track ({one_track:.1f} points)")
    axes[1].set_title(f"permutation importance (held-out): {len(moved)} of {len(permutation)} features move it")
    axes[1].set_xlabel("accuracy drop (percentage points)")
    axes[1].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)  # under the axis, off the bars
    for ax in axes:
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


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
