"""Small audio fixtures made on the fly (no audio is stored in the repository)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float = 4.0, sr: int = 22050, freq: float = 440.0, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A decaying harmonic tone with a little noise: audible, not silent, deterministic."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 5)) * np.exp(-0.3 * t)
    y = 0.3 * y / np.abs(y).max() + 0.01 * rng.standard_normal(len(t))
    y = y.astype(np.float32)
    return np.stack([y, 0.5 * y], axis=1) if channels == 2 else y


def write(path: Path, y: np.ndarray, sr: int = 22050, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, **kwargs)
    return path


def tiny_dataset(root: Path, genres=("rock", "jazz", "pop"), per_genre: int = 4, seconds: float = 4.0) -> Path:
    """``<root>/<genre>/<genre>_<i>.wav`` tones, a different pitch per genre."""
    for g, genre in enumerate(genres):
        for i in range(per_genre):
            write(root / genre / f"{genre}_{i}.wav", tone(seconds, freq=220.0 * (g + 1) + 10 * i, seed=i))
    return root


def accuracy_of(confusion) -> float:
    """Percent of the diagonal of a confusion matrix: what a reported accuracy must equal."""
    c = np.asarray(confusion)
    return 100.0 * np.trace(c) / c.sum()


def tiny_two_level_dataset(root: Path, per_subgenre: int = 3, seconds: float = 4.0) -> Path:
    """``<root>/<genre>/<subgenre>/<file>.wav`` tones: rock/{classic, punk}, jazz/{classic, swing}
    (one subgenre name under two genres) and pop with no subgenre folder (a mixed dataset).
    Genre sets the pitch, subgenre the pitch offset, so both levels can be learned."""
    layout = {"rock": ("classic", "punk"), "jazz": ("classic", "swing"), "pop": ("",)}
    for g, (genre, subs) in enumerate(layout.items()):
        for s, sub in enumerate(subs):
            for i in range(per_subgenre if sub else 2 * per_subgenre):
                folder = root / genre / sub if sub else root / genre
                write(folder / f"{genre}_{sub or 'x'}_{i}.wav", tone(seconds, freq=220.0 * (g + 1) + 60 * s + 5 * i, seed=i))
    return root
