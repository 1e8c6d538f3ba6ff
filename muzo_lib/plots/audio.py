"""Figures of a dataset's raw audio: waveforms, tracks per genre, track durations."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: Durations closer than this (s) count as one length: a histogram of them would be one bar.
SAME_DURATION_S = 0.01


def plot_class_balance(tracks, ax=None):
    """Tracks per genre, stacked by split (or by subgenre when there is no split column;
    plain bars when the dataset has no subgenres either, as GTZAN)."""
    import pandas as pd
    if "split" in tracks:
        by = "split"
    elif "subgenre" in tracks and tracks.subgenre.fillna("").astype(bool).any():
        by = "subgenre"
    else:
        by = None
    table = pd.crosstab(tracks.genre, tracks[by]) if by else tracks.genre.value_counts().sort_index().rename("tracks")
    colors = None
    if by == "split":
        table = table[[c for c in ("train", "valid", "test") if c in table]]
    elif by == "subgenre":  # one colour per subgenre; a genre's subgenres side by side in the legend
        pairs = tracks[["genre", "subgenre"]].drop_duplicates().sort_values(["genre", "subgenre"])
        table = table[list(dict.fromkeys(pairs.subgenre))]
        colors = distinct_colors(table.shape[1])
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.7 * len(table)), 3.5))
    table.plot.bar(stacked=True, ax=ax, rot=30, width=0.8, color=colors)
    ax.set_ylabel("tracks")
    ax.set_xlabel("")
    ax.set_title(f"Tracks per genre, by {by}" if by else "Tracks per genre")
    if by:  # beside the bars, never over one
        ax.legend(title=by, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.figure.tight_layout()
    return ax.figure


def distinct_colors(n: int) -> list:
    """``n`` colours no two alike: tab20's light/dark pairs up to 20 (the default cycle repeats
    after 10, so 12 subgenres would share colours), evenly spaced hues beyond."""
    if n <= 20:
        return [plt.cm.tab20(i) for i in range(n)]
    return [plt.cm.turbo(x) for x in np.linspace(0.05, 0.95, n)]


def plot_durations(manifest, ax=None):
    """Histogram of track durations (s) of the usable tracks.

    Returns ``None`` and draws nothing when every usable track lasts the same (within
    :data:`SAME_DURATION_S`), as in the generated dataset: one bar says nothing a sentence
    would not.
    """
    ok = manifest[manifest.status == "ok"]
    if len(ok) == 0 or np.ptp(ok.duration.to_numpy(dtype=float)) < SAME_DURATION_S:
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ax.hist(ok.duration, bins=30, color="tab:blue")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("tracks")
    ax.set_title(f"Durations of {len(ok)} usable tracks")
    ax.figure.tight_layout()
    return ax.figure


def plot_waveforms(examples: dict, sample_rate: int, seconds: float | None = None):
    """One waveform per entry of ``examples`` ({title: samples}), stacked, time in seconds."""
    fig, axes = plt.subplots(len(examples), 1, figsize=(9, 1.3 * len(examples)), sharex=True, squeeze=False)
    for ax, (title, y) in zip(axes[:, 0], examples.items()):
        y = y[: int(seconds * sample_rate)] if seconds else y
        ax.plot(np.arange(len(y)) / sample_rate, y, lw=0.4)
        ax.set_ylim(-1, 1)
        ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return fig
