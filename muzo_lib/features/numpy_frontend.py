"""The network input without torch: the Slaney mel filter bank, a numpy log-mel, segments.

:class:`muzo_lib.features.spectrogram.LogMelSpectrogram` (torch) and the onnxruntime predictor
(:mod:`muzo_lib.inference.onnx_predictor`, which must never import torch) both need the same
maths, so it lives here, with numpy as its only dependency:

- :func:`mel_filter_bank`: librosa's ``filters.mel`` (Slaney mel scale, Slaney area
  normalisation), bit-for-bit in float32, without importing librosa;
- :func:`numpy_logmel`: waveform -> dB log-mel, matching ``LogMelSpectrogram`` to about
  1e-4 dB (both are float32 FFTs of the same frames; only rounding differs);
- :func:`pad_frames` and :func:`track_segments`: how a log-mel is cut into the
  fixed-length segments a network scores (the training code uses the same functions);
  :func:`whole_patches`: musicnn's patches (:meth:`muzo_lib.models.pretrained.embeddings.Embedder.patches`).

Settings are passed as plain numbers (the fields of ``MelConfig``), so a model file's
metadata is enough to rebuild the front end.
"""
from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3            # Slaney scale: Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0         # where the scale turns logarithmic
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz) -> np.ndarray:
    """Slaney mel of frequencies in Hz (linear below 1 kHz, logarithmic above), as librosa."""
    hz = np.asanyarray(hz, dtype=float)
    mel = hz / _F_SP
    high = hz >= _MIN_LOG_HZ
    return np.where(high, _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mel)


def mel_to_hz(mel) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`, Hz."""
    mel = np.asanyarray(mel, dtype=float)
    hz = _F_SP * mel
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), hz)


def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                    fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters ``(n_mels, 1 + n_fft // 2)`` float32, equal to
    ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``.

    Args:
        sample_rate: Hz. n_fft: FFT size, samples. n_mels: bands.
        fmin, fmax: lowest and highest band edges, Hz (``fmax=None``: ``sample_rate / 2``).
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, fft_hz)
    weights = np.zeros((n_mels, len(fft_hz)), dtype=np.float32)
    for i in range(n_mels):  # rows rounded to float32 one by one, exactly as librosa does
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]
    return weights


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` samples, float32 (``torch.hann_window(n)``, ``scipy ... sym=False``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


#: log compressions of the mel power :class:`NumpyLogMel` applies
SCALES = ("db", "musicnn")


class NumpyLogMel:
    """Waveform ``(samples,)`` -> log-mel ``(n_mels, frames)`` in dB, float32, numpy only.

    The same framing as :class:`muzo_lib.features.spectrogram.LogMelSpectrogram`: centred frames
    (``n_fft // 2`` zeros each side), periodic Hann window, power spectrum, Slaney mel
    filters, ``10 log10`` clamped at 1e-10 and at ``top_db`` below the spectrogram's peak.

    Args:
        sample_rate: Hz. n_fft, hop_length: samples. n_mels: bands. fmin, fmax: Hz.
        top_db: dB of range kept below the peak (``None`` keeps all).
        scale: ``"db"`` (the above), or ``"musicnn"``: ``log10(1 + 10000 x)`` of the mel power
            (musicnn's input, as :meth:`muzo_lib.models.pretrained.embeddings.Embedder.patches`; no ``top_db``).

    Example:
        >>> NumpyLogMel(sample_rate=22050, n_fft=2048, hop_length=512, n_mels=128)(np.zeros(22050)).shape
        (128, 44)
    """

    #: Frames per block. Small blocks keep each filter product under OpenBLAS's threading
    #: threshold, so it runs on the calling thread: on the busy 2-core machine (load ~10) a
    #: 30 s log-mel took 456 ms with 256-frame blocks (BLAS threads waiting for each other)
    #: and 21 ms with 32; a 3 s window 28 ms and 0.6 ms.
    FRAMES_PER_CHUNK = 32

    #: mel bands per block of the banded filter product
    BANDS_PER_GROUP = 16

    def __init__(self, sample_rate: int = 22050, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128,
                 fmin: float = 0.0, fmax: float | None = None, top_db: float | None = 80.0, scale: str = "db"):
        if scale not in SCALES:
            raise ValueError(f"unknown log-mel scale {scale!r}; choose one of {list(SCALES)}")
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.top_db, self.scale = top_db, scale
        self.window = hann_window(n_fft)
        self.filters_t = np.ascontiguousarray(mel_filter_bank(sample_rate, n_fft, n_mels, fmin, fmax).T)
        # The filter bank is banded: each block of bands touches a narrow range of FFT bins, so
        # multiplying only those ranges does ~8x fewer operations than the dense product (as
        # LogMelSpectrogram does).
        self._blocks = []
        for start in range(0, n_mels, self.BANDS_PER_GROUP):
            block = self.filters_t[:, start:start + self.BANDS_PER_GROUP]
            used = np.flatnonzero(block.any(axis=1))
            lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
            self._blocks.append((start, lo, hi, np.ascontiguousarray(block[lo:hi])))

    @classmethod
    def from_settings(cls, settings: dict) -> NumpyLogMel:
        """From a ``MelConfig.to_dict()``-style dict (extra keys are ignored)."""
        names = ("sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax", "top_db", "scale")
        return cls(**{k: settings[k] for k in names if k in settings})

    def power_mel(self, waveform: np.ndarray) -> np.ndarray:
        """Mel power spectrogram ``(frames, n_mels)`` (time first), before dB."""
        y = np.asarray(waveform, dtype=np.float32).reshape(-1)
        if y.size < 1:
            raise ValueError("a log-mel needs at least one sample")
        half = self.n_fft // 2
        x = np.pad(y, (half, half))
        frames = np.lib.stride_tricks.sliding_window_view(x, self.n_fft)[::self.hop_length]
        out = np.empty((len(frames), self.n_mels), dtype=np.float32)
        for s in range(0, len(frames), self.FRAMES_PER_CHUNK):
            spectrum = np.fft.rfft(frames[s:s + self.FRAMES_PER_CHUNK] * self.window, axis=-1)
            power = (np.square(spectrum.real) + np.square(spectrum.imag)).astype(np.float32, copy=False)
            rows = out[s:s + self.FRAMES_PER_CHUNK]
            for start, lo, hi, weights in self._blocks:
                rows[:, start:start + weights.shape[1]] = power[:, lo:hi] @ weights
        return out

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        if self.scale == "musicnn":
            return np.ascontiguousarray(np.log10(np.float32(10000.0) * self.power_mel(waveform) + np.float32(1.0)).T)
        db = 10.0 * np.log10(np.maximum(self.power_mel(waveform), np.float32(1e-10)))
        if self.top_db is not None:
            db = np.maximum(db, db.max() - np.float32(self.top_db))
        return np.ascontiguousarray(db.T, dtype=np.float32)


def pad_frames(logmel: np.ndarray, frames: int) -> np.ndarray:
    """Pad a too-short log-mel on the right with its own floor (silence in dB, not 0 dB)."""
    if logmel.shape[-1] >= frames:
        return logmel
    floor = logmel.min() if logmel.size else -80.0
    return np.pad(logmel, ((0, 0), (0, frames - logmel.shape[-1])), constant_values=floor)


def track_segments(logmel: np.ndarray, frames: int) -> np.ndarray:
    """Consecutive ``frames``-long segments covering a track ``(n_segments, n_mels, frames)``.

    A tail longer than half a segment gets one more segment aligned to the track's end;
    a track shorter than one segment is padded with its floor.
    """
    length = logmel.shape[-1]
    if length <= frames:
        return pad_frames(logmel, frames)[None]
    starts = list(range(0, length - frames + 1, frames))
    if length - (starts[-1] + frames) > frames // 2:
        starts.append(length - frames)
    return np.stack([logmel[:, s:s + frames] for s in starts])


def whole_patches(logmel: np.ndarray, frames: int) -> np.ndarray:
    """musicnn's patches of a log-mel ``(n_mels, length)``: consecutive, non-overlapping,
    ``(n_patches, n_mels, frames)``, a partial tail dropped (the waveform of a clip shorter than
    one patch is padded with zeros first, see :meth:`muzo_lib.models.pretrained.embeddings.Embedder.patches`).

    Raises:
        ValueError: a log-mel shorter than one patch.
    """
    n = logmel.shape[-1] // frames
    if n < 1:
        raise ValueError(f"a log-mel of {logmel.shape[-1]} frames is shorter than one {frames}-frame patch")
    return np.ascontiguousarray(logmel[:, :n * frames].reshape(logmel.shape[0], n, frames).transpose(1, 0, 2))
