"""Figures of notebook 02: hand-made features per genre, their correlations, what the
Random Forest uses, and how its train/test gap moves. Each returns the Figure."""
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
                            top: int = 15):
    """Side by side: mean decrease in impurity (what the trees split on, from training
    data) and permutation importance (accuracy lost on held-out tracks when a feature is
    shuffled), for the ``top`` features of each."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * top + 1.5))
    imp = impurity.sort_values().tail(top)
    axes[0].barh(imp.index, imp.to_numpy(), color="tab:blue")
    axes[0].set_title("impurity importance (train)")
    axes[0].set_xlabel("mean decrease in impurity")
    perm = permutation.sort_values().tail(top)
    err = None if permutation_std is None else permutation_std.loc[perm.index].to_numpy()
    axes[1].barh(perm.index, perm.to_numpy(), xerr=err, color="tab:orange")
    axes[1].axvline(0, color="k", lw=0.8)
    axes[1].set_title("permutation importance (held-out tracks)")
    axes[1].set_xlabel("accuracy drop (percentage points)")
    for ax in axes:
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def plot_gap(frame: pd.DataFrame, x: str, curves=("train_accuracy", "valid_accuracy"), title: str = "", ax=None):
    """Accuracy curves (percent) against one knob (tree depth, leaf size, train tracks...)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
    labels = [str(v) for v in frame[x]]
    for curve in curves:
        ax.plot(labels, frame[curve].to_numpy(), marker="o", label=curve.replace("_accuracy", ""))
    ax.set_xlabel(x)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure


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
