"""Figures of the log-mel front end: a log-mel with its axes, the STFT -> mel -> dB steps,
the mel filter bank, and the effect of each setting.

Every spectrogram is drawn the same way: time in seconds, frequency in Hz (on a mel-spaced
axis for mel spectrograms) and a colour bar in dB, so a learner can read any of them alone.
"""
from __future__ import annotations

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np

#: Colour map of every spectrogram in the course.
CMAP = "magma"
DB_FORMAT = "%+.0f dB"


def show_logmel(logmel, config, ax=None, title: str = "", colorbar=True):
    """Draw one log-mel ``(n_mels, frames)`` in dB: time (s) across, mel-spaced frequency (Hz) up.

    Args:
        logmel: the spectrogram in dB, as :class:`muzo_lib.features.spectrogram.LogMelSpectrogram` returns it.
        config: its :class:`muzo_lib.features.spectrogram.MelConfig` (sample rate, hop, fmin/fmax for the axes).
        ax: axes to draw on; a new figure when ``None``.
        title: the axes title.
        colorbar: ``True`` adds a dB colour bar beside ``ax``; an ``Axes`` draws the bar in it;
            ``False`` draws none (for a caller that draws one shared bar).

    Returns:
        The matplotlib Figure.
    """
    import librosa.display
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    img = librosa.display.specshow(np.asarray(logmel, dtype=np.float32), sr=config.sample_rate,
                                   hop_length=config.hop_length, x_axis="s", y_axis="mel",
                                   fmin=config.fmin, fmax=config.fmax or config.sample_rate / 2, ax=ax, cmap=CMAP)
    if colorbar is True:
        ax.figure.colorbar(img, ax=ax, format=DB_FORMAT, pad=0.01)
    elif colorbar is not False:
        ax.figure.colorbar(img, cax=colorbar, format=DB_FORMAT)
    ax.set_title(title, fontsize=10)
    return ax.figure


def plot_logmels(logmels: dict, config, seconds: float | None = None):
    """Log-mels of several tracks ({title: logmel}) stacked on one time axis, each with its
    dB colour bar; ``seconds`` keeps only the first seconds of each."""
    frames = config.frames(seconds) if seconds else None
    fig, axes = plt.subplots(len(logmels), 1, figsize=(9, 2.2 * len(logmels)), sharex=True, squeeze=False)
    for ax, (title, logmel) in zip(axes[:, 0], logmels.items()):
        show_logmel(np.asarray(logmel)[:, :frames], config, ax=ax, title=title)
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    fig.tight_layout()
    return fig


def plot_stft_to_logmel(y, config):
    """The four steps of the front end for one clip: waveform, |STFT|^2 in dB on a linear
    frequency axis, the mel power in dB, and the final log-mel (top_db applied)."""
    import librosa
    import librosa.display
    stft_db = librosa.power_to_db(np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length)) ** 2,
                                  top_db=None)
    mel = librosa.feature.melspectrogram(y=y, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                                         n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax, pad_mode="constant")
    # a narrow second column holds the colour bars, so all four time axes line up
    fig, grid = plt.subplots(4, 2, figsize=(9.5, 10), gridspec_kw={"width_ratios": [1, 0.02]})
    axes, bars = grid[:, 0], grid[:, 1]
    axes[0].plot(np.arange(len(y)) / config.sample_rate, y, lw=0.4)
    axes[0].set(title="1. waveform", xlabel="Time (seconds)", xlim=(0, len(y) / config.sample_rate))
    bars[0].axis("off")
    kw = dict(sr=config.sample_rate, hop_length=config.hop_length, x_axis="s", cmap=CMAP)
    img = librosa.display.specshow(stft_db, y_axis="linear", ax=axes[1], **kw)
    fig.colorbar(img, cax=bars[1], format=DB_FORMAT)
    axes[1].set_title(f"2. power spectrogram |STFT|² in dB ({1 + config.n_fft // 2} linear frequency bins)")
    mel_db = librosa.power_to_db(mel, top_db=None)
    img = librosa.display.specshow(mel_db, y_axis="mel", ax=axes[2], **kw)
    fig.colorbar(img, cax=bars[2], format=DB_FORMAT)
    axes[2].set_title(f"3. mel power in dB ({config.n_mels} mel bands: low frequencies get more bands)")
    clipped = mel_db < mel_db.max() - config.top_db if config.top_db is not None else np.zeros(mel_db.shape, bool)
    img = librosa.display.specshow(librosa.power_to_db(mel, top_db=config.top_db), y_axis="mel", ax=axes[3], **kw)
    fig.colorbar(img, cax=bars[3], format=DB_FORMAT)
    # the clipped bins in a colour of their own: on a clip whose range is under top_db they are
    # few, and panels 3 and 4 would otherwise look the same
    if clipped.any():
        librosa.display.specshow(np.where(clipped, 1.0, np.nan), y_axis="mel", ax=axes[3], vmin=0, vmax=1,
                                 cmap=matplotlib.colors.ListedColormap(["#00e5ff"]),
                                 **{k: v for k, v in kw.items() if k != "cmap"})
    axes[3].set_title("4. log-mel without a floor (top_db None): what the networks see" if config.top_db is None else
                      f"4. log-mel: bins over {config.top_db:g} dB below the peak raised to it (cyan: "
                      f"{100 * clipped.mean():.1f}% of bins): what the networks see")
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

    from muzo_lib.features.spectrogram import LogMelSpectrogram
    rows, cols = len(variations), max(len(v) for v in variations.values())
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for r, (name, values) in enumerate(variations.items()):
        for c, value in enumerate(values):
            config = replace(base, **{name: value})
            with torch.inference_mode():
                logmel = LogMelSpectrogram(config)(torch.from_numpy(y)).numpy()
            show_logmel(logmel, config, ax=axes[r, c],
                        title=f"{name}={value}: {logmel.shape[0]} x {logmel.shape[1]}")
            axes[r, c].set_xlabel("")
    fig.tight_layout()
    return fig


def plot_augmented_crops(crop, config, augment, draws: int = 3, seed: int = 0):
    """One training crop and ``draws`` random augmentations of it, as training draws them:
    SpecAugment's masked bands and frames set to the crop's floor, and a random gain.

    Args:
        crop: a log-mel crop ``(n_mels, frames)`` in dB.
        config: its :class:`muzo_lib.features.spectrogram.MelConfig`.
        augment: the :class:`muzo_lib.features.augment.AugmentConfig` to draw from.
    """
    import torch

    from muzo_lib.features.augment import augment_batch

    x = torch.as_tensor(np.asarray(crop, dtype=np.float32)).unsqueeze(0).repeat(draws, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    augmented, _ = augment_batch(x, torch.zeros(draws, 1), augment, generator)
    fig, axes = plt.subplots(1, draws + 1, figsize=(3.2 * (draws + 1), 3.0), sharey=True)
    show_logmel(np.asarray(crop), config, ax=axes[0], title="the crop", colorbar=False)
    for i, ax in enumerate(axes[1:], 1):
        show_logmel(augmented[i - 1].numpy(), config, ax=ax, title=f"draw {i}", colorbar=False)
        ax.set_ylabel("")
    fig.suptitle(f"SpecAugment: up to {augment.freq_masks} x {augment.freq_mask_bands} mel bands and "
                 f"{augment.time_masks} x {augment.time_mask_frames} frames masked, gain up to +-{augment.gain_db:g} dB")
    fig.tight_layout()
    return fig
