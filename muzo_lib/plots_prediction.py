"""Figures of notebooks 04-06: attention over time, predictions per file, genre over time,
model comparison. Each function returns the matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_attention(examples: list[dict], mel_config, frames_per_step: int, segment_frames: int):
    """Log-mel of a few tracks with the hybrid network's attention drawn over its time axis.

    Args:
        examples: one dict per track: ``title``, ``logmel`` ``(n_mels, frames)`` dB,
            ``weights`` ``(n_segments, steps)`` and ``starts`` (first frame of each segment),
            as returned by :meth:`muzo_lib.prediction.NetworkPredictor.attention`.
        mel_config: the :class:`MelConfig` (for the time axis in seconds).
        frames_per_step: input frames per attention step.
        segment_frames: frames per segment.

    Each segment's weights sum to 1; a flat line at ``1 / steps`` means "listens evenly".
    """
    fig, axes = plt.subplots(len(examples), 1, figsize=(11, 2.6 * len(examples)), squeeze=False)
    for ax, ex in zip(axes[:, 0], examples):
        logmel = np.asarray(ex["logmel"], dtype=float)
        seconds = mel_config.seconds(logmel.shape[-1])
        ax.imshow(logmel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, logmel.shape[0]))
        ax.set_ylabel("mel band")
        ax.set_title(ex["title"], fontsize=10)
        twin = ax.twinx()
        for w, start in zip(ex["weights"], ex["starts"]):
            steps = len(w)
            centres = start + (np.arange(steps) + 0.5) * segment_frames / steps
            twin.plot(mel_config.seconds(1) * centres, w, color="cyan", lw=1.6)
            twin.axhline(1 / steps, color="white", lw=0.6, ls=":")
            twin.axvline(mel_config.seconds(start), color="white", lw=0.5, alpha=0.5)
        twin.set_ylim(0, None)
        twin.set_ylabel("attention", color="cyan")
        ax.set_xlim(0, seconds)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def plot_probability_bars(results: list[dict], classes: list[str], max_files: int = 8):
    """One small bar chart of genre probabilities per file (:func:`predict_files` results;
    files that failed are listed in their panel's title)."""
    results = results[:max_files]
    cols = min(4, len(results)) or 1
    rows = int(np.ceil(len(results) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.axis("off")
    for ax, r in zip(axes.flat, results):
        name = r["path"].replace("\\", "/").split("/")[-1]
        if r["error"]:
            ax.set_title(f"{name}\nunreadable", fontsize=8, color="red")
            ax.axis("off")
            continue
        p = np.array([r["probabilities"][c] for c in classes])
        colors = ["tab:orange" if c == r["genre"] else "tab:blue" for c in classes]
        ax.barh(classes, p, color=colors)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"{name}\n-> {r['genre']} ({100 * r['confidence']:.0f}%)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_genre_over_time(timeline: pd.DataFrame, classes: list[str], truth: list[tuple] | None = None):
    """Stacked genre probabilities of a sliding window (from :func:`genre_over_time`),
    with the predicted genre per window and, if given, the true parts
    ``[(start_s, end_s, genre), ...]`` as a strip above."""
    fig, (top, ax) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True, gridspec_kw={"height_ratios": [1, 4]})
    centres = ((timeline.start_s + timeline.end_s) / 2).to_numpy()
    colors = {c: plt.cm.tab10(i % 10) for i, c in enumerate(classes)}
    ax.stackplot(centres, timeline[classes].to_numpy().T, labels=classes, colors=[colors[c] for c in classes], alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    hop = np.diff(centres).min() if len(centres) > 1 else float(timeline.end_s.iloc[0] - timeline.start_s.iloc[0])
    for c, g in zip(centres, timeline.genre):
        top.axvspan(c - hop / 2, c + hop / 2, ymin=0.0, ymax=0.48, color=colors[g])
    if truth:
        for start, end, g in truth:
            top.axvspan(start, end, ymin=0.52, ymax=1.0, color=colors[g])
            top.text((start + end) / 2, 0.76, g, ha="center", va="center", fontsize=8, transform=top.get_xaxis_transform())
    top.set_yticks([0.25, 0.75], ["predicted", "true" if truth else ""])
    top.set_ylim(0, 1)
    top.set_title("genre over time (sliding window)")
    fig.tight_layout()
    return fig


def plot_model_comparison(table: pd.DataFrame, classes: list[str]):
    """Left: accuracy and macro F1 per model / fusion; right: per-class F1 as a heat map
    (``table`` from :func:`muzo_lib.ensemble.compare_models`, values in percent)."""
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


def plot_training_curves(histories: dict[str, dict]):
    """Validation accuracy and training loss per epoch for several networks side by side."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.2))
    for name, h in histories.items():
        a.plot(h["epoch"], h["train_loss"], marker=".", label=f"{name} train")
        a.plot(h["epoch"], h["val_loss"], marker=".", ls="--", label=f"{name} valid")
        b.plot(h["epoch"], h["val_acc"], marker=".", label=name)
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend(fontsize=8)
    b.set_xlabel("epoch")
    b.set_ylabel("validation accuracy % (tracks)")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_stream(frame: pd.DataFrame, classes: list[str], truth: list[tuple] | None = None, title: str = "live stream"):
    """The genre a stream reported at each update (a step line over time, from
    :func:`muzo_lib.streaming.updates_frame`) against the true parts ``[(start_s, end_s, genre), ...]``,
    with the confidence below. Silent updates leave a gap."""
    fig, (ax, conf) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    row = {c: i for i, c in enumerate(classes)}
    if truth:
        for start, end, g in truth:
            ax.hlines(row[g], start, end, color="0.75", linewidth=9, label="true" if start == truth[0][0] else None)
    predicted = [row.get(g, np.nan) if isinstance(g, str) else np.nan for g in frame.genre]
    ax.step(frame.time_s, predicted, where="post", color="C3", linewidth=1.8, label="stream (smoothed)")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_ylim(-0.5, len(classes) - 0.5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_title(title)
    conf.step(frame.time_s, frame.confidence, where="post", color="C0")
    conf.set_ylim(0, 1)
    conf.set_ylabel("confidence")
    conf.set_xlabel("stream time (s)")
    fig.tight_layout()
    return fig
