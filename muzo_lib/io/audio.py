"""Decode audio files into mono float32 arrays at one sample rate, and cut them up.

soundfile (libsndfile) decodes WAV, FLAC, OGG/Vorbis, Opus, MP3 and AU without ffmpeg;
soxr resamples. Anything that cannot be decoded raises :class:`AudioDecodeError` with
a one-line reason, so a dataset scan can skip the file and say why.

Files are decoded in blocks (:data:`BLOCK_SECONDS`), mixed to mono and resampled as a
stream, so memory follows the *output* (mono, at the target rate), never the file's
native channels and rate: a 60-minute 44.1 kHz stereo file costs 317 MB at 22050 Hz,
not 1.3 GB. Callers that need only part of a long file say so (``duration``,
``max_seconds``) and only that part is read.

:class:`SignalStats` is the one place that decides whether decoded audio carries a
signal at all (silence, a DC offset only, a fraction of a second); the dataset scanner,
prediction and the live stream (:mod:`muzo_lib.inference.streaming`) all ask it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: File endings the dataset scanner treats as audio.
AUDIO_EXTENSIONS = (".wav", ".au", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")
#: Samples are decoded this many seconds at a time (bounds memory on long files).
BLOCK_SECONDS = 30.0
#: Largest sample magnitude accepted, in full-scale units (1.0 = 0 dBFS). Float files may
#: clip a little above 1; values 1000x (+60 dB) beyond full scale are not audio anyone
#: meant (an unscaled or corrupt float file) and overflow the power spectrum (about 1e17).
MAX_ABS_SAMPLE = 1e3
#: Peak, after removing DC, under which audio counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: RMS, after removing DC, under which audio counts as silent (-100 dBFS).
SILENCE_RMS = 1e-5
#: Shorter audio than this, in seconds, is too short to judge a genre from (the Random
#: Forest's descriptors need as much: :data:`muzo_lib.features.handmade.MIN_SECONDS`).
MIN_SIGNAL_SECONDS = 0.5


class AudioDecodeError(ValueError):
    """A file that is not decodable audio (empty, truncated, not audio at all...)."""


class SignalStats:
    """Running facts about decoded audio, fed block by block (or once, with a whole array).

    Keeps the sample count, mean, sum of squared deviations, minimum and maximum, so the
    whole file never has to sit in memory. :meth:`problem` names what makes the audio unusable for
    a genre decision, or returns ``None``.

    Example:
        >>> stats = SignalStats(22050)
        >>> stats.update(y)            # any number of calls, in order
        >>> stats.problem()            # None, "silent", "no signal (DC only)", "too short: 0.05 s"
    """

    def __init__(self, sample_rate: int):
        self.sample_rate = int(sample_rate)
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the mean (Chan et al.'s pairwise update)
        self._min = np.inf
        self._max = -np.inf

    def update(self, block: np.ndarray) -> "SignalStats":
        block = np.asarray(block, dtype=np.float32).ravel()
        if block.size:
            n_b = block.size
            mean_b = float(block.sum(dtype=np.float64)) / n_b
            centred = block - np.float32(mean_b)
            m2_b = float(np.dot(centred, centred))  # centred first: a DC offset cannot swamp a faint signal
            n = self.n + n_b
            delta = mean_b - self._mean
            self._m2 += m2_b + delta * delta * self.n * n_b / n
            self._mean += delta * n_b / n
            self.n = n
            self._min = min(self._min, float(block.min()))
            self._max = max(self._max, float(block.max()))
        return self

    @property
    def seconds(self) -> float:
        return self.n / self.sample_rate

    @property
    def dc(self) -> float:
        """Mean sample value (full-scale units)."""
        return self._mean

    @property
    def ac_peak(self) -> float:
        """Largest distance of a sample from the mean: the peak once DC is removed."""
        return max(self._max - self.dc, self.dc - self._min) if self.n else 0.0

    @property
    def ac_rms(self) -> float:
        """RMS once DC is removed."""
        return float(np.sqrt(max(self._m2 / self.n, 0.0))) if self.n else 0.0

    def problem(self, min_seconds: float = MIN_SIGNAL_SECONDS) -> str | None:
        """``"too short: 0.05 s"``, ``"silent"``, ``"no signal (DC only)"``, or ``None`` when
        the audio is long enough and carries a signal above -80 dBFS peak / -100 dBFS RMS."""
        if self.seconds < min_seconds:
            return f"too short: {self.seconds:.2f} s"
        if self.ac_peak < SILENCE_PEAK or self.ac_rms < SILENCE_RMS:
            return "no signal (DC only)" if abs(self.dc) >= SILENCE_PEAK else "silent"
        return None


def signal_problem(y: np.ndarray, sample_rate: int, min_seconds: float = MIN_SIGNAL_SECONDS) -> str | None:
    """:meth:`SignalStats.problem` of a whole waveform (see :class:`SignalStats`)."""
    return SignalStats(sample_rate).update(y).problem(min_seconds)


def audio_info(path: str | os.PathLike) -> dict:
    """Header facts without decoding: ``duration`` (s), ``sample_rate`` (Hz), ``channels``."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioDecodeError("cannot read file (permission denied)")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's messages are long and multi-line
        raise AudioDecodeError(f"not decodable audio ({_first_line(exc)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioDecodeError("no audio frames in file")
    return {"duration": info.frames / info.samplerate, "sample_rate": int(info.samplerate),
            "channels": int(info.channels)}


def load_audio(path: str | os.PathLike, sample_rate: int = 22050, offset: float = 0.0,
               duration: float | None = None, max_seconds: float | None = None) -> np.ndarray:
    """Decode ``path`` to a mono float32 array at ``sample_rate`` Hz.

    Args:
        path: audio file (wav, au, flac, ogg, opus, mp3, aiff).
        sample_rate: target rate in Hz; the file is resampled (soxr, high quality) if needed.
        offset: start, in seconds from the beginning of the file.
        duration: length to read, in seconds; ``None`` reads to the end.
        max_seconds: if what would be read is longer, read only its centred ``max_seconds``
            (the middle of a song says more about its genre than its intro); ``None``: no cap.

    Returns:
        ``np.ndarray`` of shape ``(samples,)``, float32; channels are averaged.

    Raises:
        AudioDecodeError: with a one-line reason, for anything that is not decodable audio,
            and for NaN/infinite samples or samples beyond :data:`MAX_ABS_SAMPLE`.
    """
    path = Path(path)
    info = audio_info(path)
    native = info["sample_rate"]
    total = info["duration"] - offset
    length = total if duration is None else min(duration, total)
    if length <= 0:
        raise AudioDecodeError(f"no audio frames in the requested range (offset {offset:g} s of {info['duration']:.2f} s)")
    if max_seconds is not None and length > max_seconds:
        offset, length = offset + (length - max_seconds) / 2, max_seconds
    start = int(round(offset * native))
    frames = int(round(length * native)) if duration is not None or max_seconds is not None else -1
    # Blocks go straight into one buffer sized from the header, so a long file never exists
    # twice (as blocks and as their concatenation); a header that undercounts (some MP3s)
    # falls back to concatenating.
    expected = int(np.ceil(max(length, 0.0) * sample_rate)) + 64
    out, filled, extra = np.empty(expected, dtype=np.float32), 0, []
    for block in decode_blocks(path, sample_rate, start=start, frames=frames):
        if not extra and filled + len(block) <= expected:
            out[filled:filled + len(block)] = block
            filled += len(block)
        else:
            extra.append(block)
    if filled + sum(len(b) for b in extra) == 0:
        raise AudioDecodeError("no audio frames in the requested range")
    if extra:
        return np.concatenate([out[:filled], *extra])
    return out[:filled] if filled > expected - 1024 else out[:filled].copy()  # a view costs no copy


def decode_blocks(path: str | os.PathLike, sample_rate: int | None = None, start: int = 0, frames: int = -1,
                  block_seconds: float = BLOCK_SECONDS):
    """Yield consecutive mono float32 blocks of a file, resampled to ``sample_rate`` as a stream.

    Args:
        path: audio file.
        sample_rate: output rate, Hz; ``None`` keeps the file's own.
        start: first frame to read, in the file's native frames.
        frames: native frames to read; ``-1`` reads to the end.
        block_seconds: seconds decoded per block (memory is a few blocks, whatever the file's length).

    Raises:
        AudioDecodeError: the file cannot be read, or holds non-finite or absurd samples.
    """
    try:
        f = sf.SoundFile(str(path))
    except Exception as exc:
        raise AudioDecodeError(f"not decodable audio ({_first_line(exc)})") from None
    with f:
        native = f.samplerate
        rate = sample_rate or native
        resampler = soxr.ResampleStream(native, rate, 1, dtype="float32", quality="HQ") if rate != native else None
        block = max(1, int(block_seconds * native))
        left = frames if frames >= 0 else None
        try:
            if start:
                f.seek(start)
            while left is None or left > 0:
                n = block if left is None else min(block, left)
                y = f.read(n, dtype="float32", always_2d=True)
                last = y.shape[0] < n or (left is not None and left - y.shape[0] <= 0)
                if left is not None:
                    left -= y.shape[0]
                y = y.mean(axis=1, dtype=np.float32) if y.shape[1] > 1 else y[:, 0]
                check_samples(y)
                if resampler is not None:
                    y = resampler.resample_chunk(y, last=last)
                if y.size:
                    yield np.ascontiguousarray(y, dtype=np.float32)
                if last:
                    break
        except AudioDecodeError:
            raise
        except Exception as exc:
            raise AudioDecodeError(f"decoding failed ({_first_line(exc)})") from None


def check_samples(y: np.ndarray) -> None:
    """Raise :class:`AudioDecodeError` if ``y`` holds NaN/infinite samples or any beyond
    :data:`MAX_ABS_SAMPLE` (checked before any resampling or spectrum can overflow)."""
    if y.size == 0:
        return
    peak = float(np.max(np.abs(y)))
    if not np.isfinite(peak):
        raise AudioDecodeError("audio contains NaN or infinite samples")
    if peak > MAX_ABS_SAMPLE:
        raise AudioDecodeError(f"absurd sample values (peak {peak:.3g}, more than {MAX_ABS_SAMPLE:g}x full scale)")


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
