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


def plot_class_balance(tracks, ax=None):
    """Tracks per genre, stacked by split (or by subgenre when there is no split column)."""
    import pandas as pd
    by = "split" if "split" in tracks else "subgenre"
    table = pd.crosstab(tracks.genre, tracks[by])
    if by == "split":
        table = table[[c for c in ("train", "valid", "test") if c in table]]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.7 * len(table)), 3.5))
    table.plot.bar(stacked=True, ax=ax, rot=30, width=0.8)
    ax.set_ylabel("tracks")
    ax.set_xlabel("")
    ax.set_title(f"Tracks per genre, by {by}")
    ax.legend(title=by, fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def plot_durations(manifest, ax=None):
    """Histogram of track durations (s) of the usable tracks."""
    ok = manifest[manifest.status == "ok"]
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


def show_logmel(logmel, config, ax=None, title: str = "", colorbar: bool = True):
    """Draw one log-mel ``(n_mels, frames)`` with time (s) and mel-spaced frequency (Hz) axes."""
    import librosa.display
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    img = librosa.display.specshow(np.asarray(logmel, dtype=np.float32), sr=config.sample_rate,
                                   hop_length=config.hop_length, x_axis="time", y_axis="mel",
                                   fmin=config.fmin, fmax=config.fmax or config.sample_rate / 2, ax=ax, cmap="magma")
    if colorbar:
        ax.figure.colorbar(img, ax=ax, format="%+.0f dB", pad=0.01)
    ax.set_title(title, fontsize=10)
    return ax.figure


def plot_stft_to_logmel(y, config):
    """The four steps of the front end for one clip: waveform, |STFT|^2 in dB on a linear
    frequency axis, the mel power in dB, and the final log-mel (top_db applied)."""
    import librosa
    import librosa.display
    stft_db = librosa.power_to_db(np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length)) ** 2,
                                  top_db=None)
    mel = librosa.feature.melspectrogram(y=y, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                                         n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax, pad_mode="constant")
    fig, axes = plt.subplots(4, 1, figsize=(9, 10))
    axes[0].plot(np.arange(len(y)) / config.sample_rate, y, lw=0.4)
    axes[0].set(title="1. waveform", xlabel="time (s)", xlim=(0, len(y) / config.sample_rate))
    kw = dict(sr=config.sample_rate, hop_length=config.hop_length, x_axis="time", cmap="magma")
    librosa.display.specshow(stft_db, y_axis="linear", ax=axes[1], **kw)
    axes[1].set_title(f"2. power spectrogram |STFT|² in dB ({1 + config.n_fft // 2} linear frequency bins)")
    librosa.display.specshow(librosa.power_to_db(mel, top_db=None), y_axis="mel", ax=axes[2], **kw)
    axes[2].set_title(f"3. mel power in dB ({config.n_mels} mel bands: low frequencies get more bands)")
    librosa.display.specshow(librosa.power_to_db(mel, top_db=config.top_db), y_axis="mel", ax=axes[3], **kw)
    axes[3].set_title(f"4. log-mel, clipped {config.top_db} dB below the peak: what the networks see")
    fig.tight_layout()
    return fig


def plot_mel_filterbank(config, ax=None):
    """The triangular mel filters over linear frequency (Hz): narrow at the bottom, wide at the top."""
    import librosa
    mel = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                              fmin=config.fmin, fmax=config.fmax)
    freqs = np.linspace(0, config.sample_rate / 2, mel.shape[1])
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.8))
    for band in mel[:: max(1, config.n_mels // 32)]:
        ax.plot(freqs, band, lw=0.8)
    ax.set(xlabel="frequency (Hz)", ylabel="weight",
           title=f"Mel filter bank (every {max(1, config.n_mels // 32)}th of {config.n_mels} filters, Slaney scale and norm)")
    ax.figure.tight_layout()
    return ax.figure


def plot_setting_variations(y, base, variations: dict[str, list]):
    """A grid of log-mels of the same clip: one row per setting, one column per value."""
    from dataclasses import replace

    import torch

    from .spectrogram import LogMelSpectrogram
    rows, cols = len(variations), max(len(v) for v in variations.values())
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for r, (name, values) in enumerate(variations.items()):
        for c, value in enumerate(values):
            config = replace(base, **{name: value})
            with torch.inference_mode():
                logmel = LogMelSpectrogram(config)(torch.from_numpy(y)).numpy()
            show_logmel(logmel, config, ax=axes[r, c], colorbar=False,
                        title=f"{name}={value}: {logmel.shape[0]} x {logmel.shape[1]}")
            axes[r, c].set_xlabel("")
    fig.tight_layout()
    return fig
