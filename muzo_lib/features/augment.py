"""Training-time augmentation, each switch off or on from :class:`AugmentConfig`.

Spectrogram augmentations work on batches of dB log-mels ``(batch, n_mels, frames)``
on whatever device the batch is on, drawing from a seeded ``torch.Generator`` so a
CPU run is repeatable. Waveform augmentations (time-stretch, pitch-shift) change the
audio before the log-mel and are slow (a phase vocoder per crop): off by default.
Nothing here runs at evaluation or prediction time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class AugmentConfig:
    """Which augmentations the training loop applies, and how strongly.

    Attributes:
        freq_masks: SpecAugment frequency masks per crop (0 = off).
        freq_mask_bands: widest frequency mask, mel bands.
        time_masks: SpecAugment time masks per crop (0 = off).
        time_mask_frames: widest time mask, frames (~23 ms each at hop 512, 22050 Hz).
        gain_db: random gain in [-gain_db, +gain_db] dB added to each crop (0 = off).
        mixup_alpha: Beta(alpha, alpha) mixing of crop pairs and their labels (0 = off).
        time_stretch: largest waveform stretch, as a rate deviation (0.1 = rates 0.9..1.1;
            0 = off). Needs the audio files; applied before the log-mel.
        pitch_shift: largest waveform pitch shift, semitones (0 = off).
    """
    freq_masks: int = 1
    freq_mask_bands: int = 12
    time_masks: int = 1
    time_mask_frames: int = 20
    gain_db: float = 6.0
    mixup_alpha: float = 0.0
    time_stretch: float = 0.0
    pitch_shift: float = 0.0

    @property
    def needs_waveforms(self) -> bool:
        return self.time_stretch > 0 or self.pitch_shift > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def off(cls) -> "AugmentConfig":
        """Every augmentation switched off."""
        return cls(freq_masks=0, time_masks=0, gain_db=0.0)


def spec_augment(x: torch.Tensor, n_masks: int, max_width: int, axis: int,
                 generator: torch.Generator) -> torch.Tensor:
    """Set ``n_masks`` random bands of ``axis`` (1 = mel bands, 2 = frames) of each
    spectrogram to that spectrogram's minimum (silence in dB), SpecAugment style."""
    if n_masks <= 0 or max_width <= 0:
        return x
    batch, size = x.shape[0], x.shape[axis]
    floor = x.amin(dim=(1, 2), keepdim=True)
    positions = torch.arange(size, device=x.device)
    keep = torch.ones(batch, size, dtype=torch.bool, device=x.device)
    for _ in range(n_masks):
        width = torch.randint(0, min(max_width, size) + 1, (batch, 1), generator=generator).to(x.device)
        start = (torch.rand(batch, 1, generator=generator).to(x.device) * (size - width + 1)).long()
        keep &= ~((positions >= start) & (positions < start + width))
    keep = keep.unsqueeze(2) if axis == 1 else keep.unsqueeze(1)
    return torch.where(keep, x, floor)


def random_gain(x: torch.Tensor, gain_db: float, generator: torch.Generator) -> torch.Tensor:
    """Add one random gain in [-gain_db, +gain_db] dB to each spectrogram of the batch."""
    if gain_db <= 0:
        return x
    gains = (torch.rand(x.shape[0], 1, 1, generator=generator) * 2 - 1) * gain_db
    return x + gains.to(x.device, x.dtype)


def mixup(x: torch.Tensor, targets: torch.Tensor, alpha: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each crop with another of the batch: ``lam * a + (1 - lam) * b`` for inputs
    and one-hot targets alike (``targets`` are class probabilities ``(batch, classes)``)."""
    if alpha <= 0 or x.shape[0] < 2:
        return x, targets
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    order = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[order], lam * targets + (1 - lam) * targets[order]


def augment_batch(x: torch.Tensor, targets: torch.Tensor, config: AugmentConfig,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply every spectrogram augmentation ``config`` switches on, in a fixed order:
    gain, frequency masks, time masks, mixup."""
    x = random_gain(x, config.gain_db, generator)
    x = spec_augment(x, config.freq_masks, config.freq_mask_bands, 1, generator)
    x = spec_augment(x, config.time_masks, config.time_mask_frames, 2, generator)
    return mixup(x, targets, config.mixup_alpha, generator)


def stretch_and_shift(y: np.ndarray, sample_rate: int, config: AugmentConfig,
                      rng: np.random.Generator) -> np.ndarray:
    """Random time-stretch and pitch-shift of a waveform (librosa's phase vocoder);
    the returned length may differ from ``y``'s (the caller crops)."""
    import librosa

    if config.time_stretch > 0:
        rate = 1.0 + rng.uniform(-config.time_stretch, config.time_stretch)
        y = librosa.effects.time_stretch(y, rate=rate)
    if config.pitch_shift > 0:
        steps = rng.uniform(-config.pitch_shift, config.pitch_shift)
        y = librosa.effects.pitch_shift(y, sr=sample_rate, n_steps=steps)
    return y.astype(np.float32, copy=False)
