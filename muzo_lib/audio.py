"""Decode audio files into mono float32 arrays at one sample rate, and cut them up.

soundfile (libsndfile) decodes WAV, FLAC, OGG/Vorbis, MP3 and AU without ffmpeg;
soxr resamples. Anything that cannot be decoded raises :class:`AudioDecodeError` with
a one-line reason, so a dataset scan can skip the file and say why.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: File endings the dataset scanner treats as audio.
AUDIO_EXTENSIONS = (".wav", ".au", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


class AudioDecodeError(ValueError):
    """A file that is not decodable audio (empty, truncated, not audio at all...)."""


def audio_info(path: str | os.PathLike) -> dict:
    """Header facts without decoding: ``duration`` (s), ``sample_rate`` (Hz), ``channels``."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's messages are long and multi-line
        raise AudioDecodeError(f"not decodable audio ({_first_line(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioDecodeError("no audio frames in file")
    return {"duration": info.frames / info.samplerate, "sample_rate": int(info.samplerate),
            "channels": int(info.channels)}


def load_audio(path: str | os.PathLike, sample_rate: int = 22050, offset: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Decode ``path`` to a mono float32 array at ``sample_rate`` Hz.

    Args:
        path: audio file (wav, au, flac, ogg, mp3, aiff).
        sample_rate: target rate in Hz; the file is resampled (soxr, high quality) if needed.
        offset: start, in seconds from the beginning of the file.
        duration: length to read, in seconds; ``None`` reads to the end.

    Returns:
        ``np.ndarray`` of shape ``(samples,)``, float32 in [-1, 1]; channels are averaged.

    Raises:
        AudioDecodeError: with a one-line reason, for anything that is not decodable audio.
    """
    path = Path(path)
    info = audio_info(path)
    native = info["sample_rate"]
    start = int(round(offset * native))
    stop = None if duration is None else start + int(round(duration * native))
    try:
        y, native = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioDecodeError(f"decoding failed ({_first_line(exc)})") from None
    if y.shape[0] == 0:
        raise AudioDecodeError("no audio frames in the requested range")
    y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if native != sample_rate:
        y = soxr.resample(y, native, sample_rate, quality="HQ").astype(np.float32, copy=False)
    if not np.all(np.isfinite(y)):
        raise AudioDecodeError("audio contains NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32)


def fix_length(y: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop or zero-pad the last axis of ``y`` to exactly ``n_samples`` samples."""
    if y.shape[-1] >= n_samples:
        return y[..., :n_samples]
    pad = [(0, 0)] * (y.ndim - 1) + [(0, n_samples - y.shape[-1])]
    return np.pad(y, pad)


def segment_signal(y: np.ndarray, segment_samples: int, hop_samples: int | None = None,
                   pad_last: bool = False) -> np.ndarray:
    """Cut the last axis of ``y`` into fixed-length windows.

    Args:
        y: array ``(..., samples)`` (a waveform, or a log-mel ``(n_mels, frames)``).
        segment_samples: window length, in samples (or frames for a spectrogram).
        hop_samples: step between window starts; default ``segment_samples`` (no overlap).
        pad_last: zero-pad a too-short input to one window instead of returning none.

    Returns:
        ``(n_segments, ..., segment_samples)``; ``n_segments`` is 0 when ``y`` is shorter
        than one window and ``pad_last`` is False.
    """
    hop = hop_samples or segment_samples
    length = y.shape[-1]
    if length < segment_samples:
        if not pad_last:
            return np.zeros((0,) + y.shape[:-1] + (segment_samples,), dtype=y.dtype)
        y, length = fix_length(y, segment_samples), segment_samples
    starts = range(0, length - segment_samples + 1, hop)
    return np.stack([y[..., s:s + segment_samples] for s in starts])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
