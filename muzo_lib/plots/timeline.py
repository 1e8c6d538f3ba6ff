"""Figures along a recording's time axis: the predicted genre of a sliding window, a live
stream's updates, and where the hybrid network's attention looks."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .spectrograms import show_logmel


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


def plot_attention(examples: list[dict], mel_config, frames_per_step: int, segment_frames: int):
    """Log-mel of a few tracks with the hybrid network's attention drawn over its time axis.

    Args:
        examples: one dict per track: ``title``, ``logmel`` ``(n_mels, frames)`` dB,
            ``weights`` ``(n_segments, steps)`` and ``starts`` (first frame of each segment),
            as returned by :meth:`muzo_lib.inference.prediction.NetworkPredictor.attention`.
        mel_config: the :class:`muzo_lib.features.spectrogram.MelConfig` of the log-mels (for the time (s)
            and frequency (Hz) axes).
        frames_per_step: input frames per attention step.
        segment_frames: frames per segment.

    Each segment's weights sum to 1; a flat line at ``1 / steps`` means "listens evenly".
    """
    # a narrow second column holds the dB colour bars, clear of the attention axis on the right
    fig, grid = plt.subplots(len(examples), 2, figsize=(11.5, 2.6 * len(examples)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 0.015]})
    for ax, bar, ex in zip(grid[:, 0], grid[:, 1], examples):
        logmel = np.asarray(ex["logmel"], dtype=float)
        seconds = mel_config.seconds(logmel.shape[-1])
        show_logmel(logmel, mel_config, ax=ax, title=ex["title"], colorbar=bar)
        ax.set_xlabel("")
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
    grid[-1, 0].set_xlabel("Time (seconds)")
    fig.tight_layout()
    return fig


def plot_stream(frame: pd.DataFrame, classes: list[str], truth: list[tuple] | None = None, title: str = "live stream"):
    """The genre a stream reported at each update (a step line over time, from
    :func:`muzo_lib.inference.streaming.updates_frame`) against the true parts ``[(start_s, end_s, genre), ...]``,
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
