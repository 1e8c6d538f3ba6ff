"""Compute each track's log-mel once and keep it on disk (float16 ``.npy``).

A cached array is keyed by every setting that changes it (:class:`MelConfig`, the
duration read) and by the audio file's identity (absolute path, size, modification
time), so editing a file or a setting recomputes exactly what changed and nothing else.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .audio import AudioDecodeError, load_audio
from .paths import atomic_write
from .progress import progress_bar
from .spectrogram import LogMelSpectrogram, MelConfig


def file_identity(path: str | os.PathLike) -> str:
    """Short hash of (absolute path, size, mtime): changes when the file changes."""
    p = Path(path).resolve()
    st = p.stat()
    return hashlib.sha1(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


class LogMelCache:
    """Per-track log-mel spectrograms ``(n_mels, frames)`` in float16, under ``cache_dir``.

    Args:
        cache_dir: folder for the cache (one sub-folder per setting).
        config: the front end's settings.
        duration: seconds read from each file (from the start); ``None`` reads it all.

    Example:
        >>> cache = LogMelCache("runs/course/cache", MelConfig())
        >>> arrays, errors = cache.build(paths)      # cold: decode + log-mel; warm: load
    """

    def __init__(self, cache_dir: str | os.PathLike, config: MelConfig | None = None,
                 duration: float | None = None):
        self.config = config or MelConfig()
        self.duration = duration
        tag = "full" if duration is None else f"{duration:g}s"
        self.folder = Path(cache_dir) / f"logmel-{self.config.key()}-{tag}"
        self.front_end = LogMelSpectrogram(self.config)

    def path_for(self, audio_path: str | os.PathLike) -> Path:
        return self.folder / f"{Path(audio_path).stem}-{file_identity(audio_path)}.npy"

    def load(self, audio_path: str | os.PathLike) -> np.ndarray:
        """The track's log-mel (dB, float16), computed and stored on first use.

        Raises:
            AudioDecodeError: the file cannot be decoded.
        """
        target = self.path_for(audio_path)
        cached = _read_entry(target)
        if cached is not None:
            return cached
        y = load_audio(audio_path, self.config.sample_rate, duration=self.duration)
        with torch.inference_mode():
            logmel = self.front_end.forward_long(torch.from_numpy(y)).numpy().astype(np.float16)  # no padded copy
        atomic_write(target, lambda tmp: _save_npy(tmp, logmel))
        return logmel

    def build(self, paths, n_jobs: int | None = None, progress: bool = True,
              desc: str = "log-mels") -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Load or compute the log-mel of every path, several files at a time.

        Returns:
            ``(arrays, errors)``: path -> array for the files that worked, and
            path -> one-line reason for those that could not be decoded.
        """
        paths = [str(p) for p in paths]
        arrays, errors, missing = {}, {}, []
        for path in paths:  # warm entries load here: a pool would cost more than the reads
            try:
                target = self.path_for(path)
            except OSError as exc:
                errors[path] = f"cannot read file ({exc.strerror or exc})"
                continue
            cached = _read_entry(target)
            if cached is not None:
                arrays[path] = cached
            else:
                missing.append(path)
        if not missing:
            return arrays, errors

        def one(path):
            try:
                return path, self.load(path), None
            except (AudioDecodeError, OSError) as exc:
                return path, None, str(exc)

        # Threads are enough: decoding, resampling and the FFTs all release the GIL.
        workers = n_jobs or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            bar = progress_bar(pool.map(one, missing), total=len(missing), desc=desc, disable=not progress)
            for path, logmel, error in bar:
                if error is None:
                    arrays[path] = logmel
                else:
                    errors[path] = error
        return arrays, errors


def _read_entry(target: Path) -> np.ndarray | None:
    """A cached array, or ``None`` when there is none or it is damaged (truncated, not
    ``.npy``): a damaged entry is deleted so the caller recomputes it, never blocks the run."""
    try:
        return np.load(target, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):
        target.unlink(missing_ok=True)
        return None


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a name
        np.save(f, array)
