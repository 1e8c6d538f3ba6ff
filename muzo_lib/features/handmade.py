"""Hand-made audio descriptors for the Random Forest, named like the GTZAN features table.

The public "GTZAN features" table (``features_30_sec.csv``, 57 numeric columns) was
made with librosa's defaults on each whole 30 s clip at 22050 Hz: 2048-sample frames
with a 512-sample hop, the mean and the (numpy, population) variance over frames of
chroma_stft, rms, spectral centroid / bandwidth / rolloff, zero-crossing rate and 20
MFCCs; ``harmony`` / ``perceptr`` are the mean and variance of the *signals* returned
by ``librosa.effects.harmonic`` / ``percussive`` (HPSS), and ``tempo`` is
``librosa.beat.beat_track``'s estimate in BPM. :class:`AudioFeatureExtractor`
computes the same 57 values under the same names (checked against the table on real
GTZAN clips, see ``tests/test_features.py``), plus a few further descriptors whose
names all start with ``extra_``.

It is about 4x faster than calling those librosa functions one by one
(:func:`naive_gtzan_features`, kept as the reference) because

- one STFT is shared by chroma, the spectral descriptors, the mel spectrogram (MFCC and
  the onset envelope behind the tempo) and HPSS, instead of one STFT per call;
- HPSS runs once (``harmonic`` and ``percussive`` each redo it), and its two median
  filters, 88% of the naive time, use :func:`median_filter_1d`, an exact running
  median (the same numbers as ``scipy.ndimage.median_filter``, several times faster);
- the percussive signal is the clip minus the harmonic one (HPSS masks sum to 1 at
  librosa's default margin), which saves one inverse STFT.

Over a dataset, :func:`extract_dataset` runs on all cores (joblib) with a progress bar
and keeps each track's values on disk, keyed by the settings and the file's identity.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from muzo_lib.features.cache import TrackCache
from muzo_lib.io.audio import AudioDecodeError, load_audio
from muzo_lib.io.progress import progress_bar
from muzo_lib.io.ranks import cores_per_rank

#: The descriptors (before ``_mean``/``_var``) of the GTZAN table, in its column order.
_GTZAN_STATS = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                "zero_crossing_rate", "harmony", "perceptr")
#: The 57 numeric columns of the GTZAN features table, in its order (``length``,
#: ``filename`` and ``label`` are not features).
GTZAN_FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"{d}_{s}" for d in _GTZAN_STATS for s in ("mean", "var")) + ("tempo",)
    + tuple(f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")))
#: Further descriptors (all prefixed ``extra_``): spectral contrast (7 bands), tonnetz
#: (6 dimensions, from the STFT chroma) and spectral flatness, each as mean and var.
EXTRA_FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"extra_contrast{i}_{s}" for i in range(1, 8) for s in ("mean", "var"))
    + tuple(f"extra_tonnetz{i}_{s}" for i in range(1, 7) for s in ("mean", "var"))
    + ("extra_flatness_mean", "extra_flatness_var"))
#: Bumped whenever a computed value changes, so cached features are recomputed.
FEATURES_VERSION = 1
#: :func:`extract_dataset` computes this many uncached files or more in processes, fewer in threads.
PROCESSES_FROM = 200
#: Shortest clip accepted, in seconds (one analysis frame is 2048 samples = 93 ms).
MIN_SECONDS = 0.5


class FeatureError(ValueError):
    """A clip the descriptors cannot be computed on (too short, not finite, ...)."""


# ---------------------------------------------------------------- fast median filter

@numba.njit(cache=True, nogil=True)
def _reflect(i, n):
    # scipy.ndimage's "reflect" mode (d c b a | a b c d | d c b a), any distance
    period = 2 * n
    i = i % period
    return i if i < n else period - 1 - i


@numba.njit(cache=True, nogil=True)
def _running_median_rows(x, size, out):
    """Median of a sliding window of ``size`` (odd) samples along each row of ``x``."""
    n_rows, n = x.shape
    half = size // 2
    window = np.empty(size, dtype=x.dtype)
    for r in range(n_rows):
        row = x[r]
        for k in range(size):
            window[k] = row[_reflect(k - half, n)]
        window.sort()
        for j in range(n):
            out[r, j] = window[half]
            if j + 1 == n:
                break
            old = row[_reflect(j - half, n)]
            new = row[_reflect(j + 1 + half, n)]
            if old == new:
                continue
            # remove ``old`` (present in the sorted window) and insert ``new``, in place
            lo, hi = 0, size
            while lo < hi:
                mid = (lo + hi) // 2
                if window[mid] < old:
                    lo = mid + 1
                else:
                    hi = mid
            pos = lo
            if new > old:
                while pos + 1 < size and window[pos + 1] < new:
                    window[pos] = window[pos + 1]
                    pos += 1
            else:
                while pos > 0 and window[pos - 1] > new:
                    window[pos] = window[pos - 1]
                    pos -= 1
            window[pos] = new
    return out


@numba.njit(cache=True, nogil=True)
def _harmonic_part(D, harm, perc):
    """``D`` times librosa's ``softmask(harm, perc, power=2, split_zeros=True)``, fused."""
    out = np.empty_like(D)
    tiny = np.finfo(harm.dtype).tiny
    for i in range(D.shape[0]):
        for j in range(D.shape[1]):
            h, p = harm[i, j], perc[i, j]
            z = max(h, p)
            if z < tiny:
                out[i, j] = D[i, j] * 0.5
            else:
                h2, p2 = (h / z) ** 2, (p / z) ** 2
                out[i, j] = D[i, j] * (h2 / (h2 + p2))
    return out


def median_filter_1d(x: np.ndarray, size: int, axis: int = -1) -> np.ndarray:
    """Exact running median of ``size`` (odd) values along one ``axis`` of a 2-D array.

    Equal to ``scipy.ndimage.median_filter(x, size=shape, mode="reflect")`` with a
    1-D ``shape`` along ``axis`` (what :func:`librosa.decompose.hpss` calls), but it
    keeps the window sorted as it slides (O(size) per sample instead of a selection
    over the whole window), which is several times faster for HPSS's 31-bin kernels.

    Args:
        x: real array ``(rows, columns)``, e.g. a magnitude spectrogram ``(bins, frames)``.
        size: window length in samples along ``axis``; odd.
        axis: 0 or 1 (or -1, -2).

    Returns:
        Array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    if x.ndim != 2 or size < 1 or size % 2 == 0:
        raise ValueError(f"median_filter_1d needs a 2-D array and an odd size, got shape {x.shape}, size {size}")
    if np.issubdtype(x.dtype, np.complexfloating) or not np.all(np.isfinite(x)):
        raise ValueError("median_filter_1d needs finite real values")
    rows = np.ascontiguousarray(x if axis in (1, -1) else x.T)
    out = _running_median_rows(rows, size, np.empty_like(rows))
    return out if axis in (1, -1) else np.ascontiguousarray(out.T)


# ---------------------------------------------------------------- the extractor

class AudioFeatureExtractor:
    """Flat, named descriptors of one clip: the GTZAN table's 57 columns (+ extras).

    Args:
        sample_rate: analysis rate in Hz (the table: 22050); files are resampled to it.
        n_fft: STFT frame length in samples (2048 = 93 ms at 22050 Hz).
        hop_length: STFT hop in samples (512 = 23 ms).
        n_mfcc: MFCCs kept (20, as in the table).
        hpss_kernel: HPSS median filter length, in frames (harmonic) and bins (percussive).
        extras: also compute the ``extra_*`` descriptors (:data:`EXTRA_FEATURE_NAMES`).
        duration: seconds read from each file (from the start); ``None`` = the whole file.

    Example:
        >>> fx = AudioFeatureExtractor()
        >>> feats = fx.extract_all_features("blues.00000.wav")   # or (array, sample_rate)
        >>> feats["tempo"], feats["mfcc1_mean"]
    """

    def __init__(self, sample_rate: int = 22050, n_fft: int = 2048, hop_length: int = 512,
                 n_mfcc: int = 20, hpss_kernel: int = 31, extras: bool = True,
                 duration: float | None = None):
        if n_mfcc != 20:
            raise ValueError("n_mfcc must be 20: the feature names follow the GTZAN table")
        if hpss_kernel < 1 or hpss_kernel % 2 == 0:
            raise ValueError(f"hpss_kernel must be odd and positive, got {hpss_kernel}")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mfcc = n_mfcc
        self.hpss_kernel = hpss_kernel
        self.extras = extras
        self.duration = duration

    @property
    def feature_names(self) -> list[str]:
        """Names of the values :meth:`extract_all_features` returns, in order."""
        return list(GTZAN_FEATURE_NAMES) + (list(EXTRA_FEATURE_NAMES) if self.extras else [])

    def settings(self) -> dict:
        return dict(version=FEATURES_VERSION, sample_rate=self.sample_rate, n_fft=self.n_fft,
                    hop_length=self.hop_length, n_mfcc=self.n_mfcc, hpss_kernel=self.hpss_kernel,
                    extras=self.extras, duration=self.duration)

    def key(self) -> str:
        """Short hash of every setting that changes the values (for caches)."""
        return hashlib.sha1(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:10]

    def load(self, path: str | os.PathLike) -> np.ndarray:
        """Decode ``path`` at :attr:`sample_rate` (raises :class:`AudioDecodeError`)."""
        return load_audio(path, self.sample_rate, duration=self.duration)

    def extract_all_features(self, audio, sample_rate: int | None = None,
                             timings: dict | None = None) -> dict[str, float]:
        """All descriptors of one clip.

        Args:
            audio: a file path, or a mono waveform (samples,) in [-1, 1].
            sample_rate: the waveform's rate in Hz (required with an array; it is
                resampled to :attr:`sample_rate` if different).
            timings: if given, filled with seconds spent per part (stft, chroma, spectral,
                mel_mfcc, tempo, hpss, extras).

        Returns:
            ``{name: float}`` in :attr:`feature_names` order.

        Raises:
            AudioDecodeError: the file cannot be decoded.
            FeatureError: the clip is shorter than :data:`MIN_SECONDS` or not finite.
        """
        y = self._waveform(audio, sample_rate)
        return dict(zip(self.feature_names, self._compute(y, timings if timings is not None else {})))

    def _waveform(self, audio, sample_rate) -> np.ndarray:
        if isinstance(audio, (str, os.PathLike)):
            return self.load(audio)
        if sample_rate is None:
            raise ValueError("pass sample_rate (Hz) with a waveform array")
        y = np.asarray(audio, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=0 if y.shape[0] <= 8 else 1)  # (channels, samples) or (samples, channels)
        if y.ndim != 1:
            raise FeatureError(f"expected a mono waveform (samples,), got shape {np.shape(audio)}")
        if sample_rate != self.sample_rate:
            import soxr
            y = soxr.resample(y, sample_rate, self.sample_rate, quality="HQ").astype(np.float32)
        return np.ascontiguousarray(y)

    def _compute(self, y: np.ndarray, timings: dict) -> list[float]:
        import librosa

        sr, n_fft, hop = self.sample_rate, self.n_fft, self.hop_length
        if len(y) < MIN_SECONDS * sr:
            raise FeatureError(f"clip too short: {len(y) / sr:.3f} s, need at least {MIN_SECONDS} s")
        if not np.all(np.isfinite(y)):
            raise FeatureError("waveform contains NaN or infinite samples")
        values: dict[str, float] = {}

        def stats(name, x):
            values[f"{name}_mean"] = float(np.mean(x))
            values[f"{name}_var"] = float(np.var(x))

        with _timer(timings, "stft"):
            D = librosa.stft(y, n_fft=n_fft, hop_length=hop)
            magnitude = np.abs(D)
            power = magnitude ** 2
        with _timer(timings, "chroma"):
            chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, hop_length=hop)
            stats("chroma_stft", chroma)
        with _timer(timings, "spectral"):
            stats("rms", librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop))
            stats("spectral_centroid", librosa.feature.spectral_centroid(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop))
            stats("spectral_bandwidth", librosa.feature.spectral_bandwidth(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop))
            stats("rolloff", librosa.feature.spectral_rolloff(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop))
            stats("zero_crossing_rate", librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop))
        with _timer(timings, "hpss"):
            harmonic = self._harmonic(D, magnitude, len(y))
            stats("harmony", harmonic)
            stats("perceptr", y - harmonic)
        with _timer(timings, "mel_mfcc"):
            log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_fft=n_fft, hop_length=hop))
            mfcc = librosa.feature.mfcc(S=log_mel, sr=sr, n_mfcc=self.n_mfcc)
        with _timer(timings, "tempo"):
            # beat_track(y=...) aggregates the onset envelope with a median, not the default mean
            onset = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=hop, aggregate=np.median)
            tempo, _ = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop)
            values["tempo"] = float(np.atleast_1d(tempo)[0])
        for i in range(self.n_mfcc):
            stats(f"mfcc{i + 1}", mfcc[i])
        if self.extras:
            with _timer(timings, "extras"):
                contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sr, n_fft=n_fft, hop_length=hop)
                for i in range(contrast.shape[0]):
                    stats(f"extra_contrast{i + 1}", contrast[i])
                tonnetz = librosa.feature.tonnetz(sr=sr, chroma=chroma)
                for i in range(tonnetz.shape[0]):
                    stats(f"extra_tonnetz{i + 1}", tonnetz[i])
                stats("extra_flatness", librosa.feature.spectral_flatness(S=magnitude, n_fft=n_fft, hop_length=hop))
        return [values[name] for name in self.feature_names]

    def _harmonic(self, D: np.ndarray, magnitude: np.ndarray, length: int) -> np.ndarray:
        """``librosa.effects.harmonic`` from an existing STFT, with the fast median filter."""
        import librosa

        harm = median_filter_1d(magnitude, self.hpss_kernel, axis=1)   # across time
        perc = median_filter_1d(magnitude, self.hpss_kernel, axis=0)   # across frequency
        return librosa.istft(_harmonic_part(D, harm, perc), hop_length=self.hop_length, n_fft=self.n_fft,
                             length=length, dtype=np.float32)


def precompile() -> float:
    """Compile librosa's and this module's numba kernels into numba's on-disk cache, once.

    In a fresh environment the first ``import librosa`` compiles its vectorised kernels and the
    first extraction compiles the median filter: measured 27 s + 6 s on 2 cores, against 4.5 s +
    1.6 s once cached. ``scripts/setup.sh`` calls this right after installing, so the course and
    the tests do not pay it inside a notebook. Returns the seconds it took.
    """
    start = time.perf_counter()
    import librosa.beat  # noqa: F401  (importing compiles librosa's vectorised kernels)
    import librosa.feature  # noqa: F401

    clip = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    AudioFeatureExtractor().extract_all_features(clip, 22050)
    return time.perf_counter() - start


@contextmanager
def _timer(timings: dict, part: str):
    start = time.perf_counter()
    yield
    timings[part] = timings.get(part, 0.0) + time.perf_counter() - start


def naive_gtzan_features(y: np.ndarray, sr: int = 22050) -> dict[str, float]:
    """The 57 table columns computed the plain way, one librosa call per descriptor.

    This is how the GTZAN table was made and the reference :class:`AudioFeatureExtractor`
    is checked and benchmarked against (slow: two STFTs per HPSS call, scipy median filters).
    """
    import librosa

    values = {}

    def stats(name, x):
        values[f"{name}_mean"] = float(np.mean(x))
        values[f"{name}_var"] = float(np.var(x))

    stats("chroma_stft", librosa.feature.chroma_stft(y=y, sr=sr))
    stats("rms", librosa.feature.rms(y=y))
    stats("spectral_centroid", librosa.feature.spectral_centroid(y=y, sr=sr))
    stats("spectral_bandwidth", librosa.feature.spectral_bandwidth(y=y, sr=sr))
    stats("rolloff", librosa.feature.spectral_rolloff(y=y, sr=sr))
    stats("zero_crossing_rate", librosa.feature.zero_crossing_rate(y))
    stats("harmony", librosa.effects.harmonic(y))
    stats("perceptr", librosa.effects.percussive(y))
    values["tempo"] = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0])
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    for i in range(20):
        stats(f"mfcc{i + 1}", mfcc[i])
    return {name: values[name] for name in GTZAN_FEATURE_NAMES}


# ---------------------------------------------------------------- datasets

class FeatureCache(TrackCache):
    """One small JSON file of descriptors per track, under ``cache_dir``: a
    :class:`muzo_lib.features.cache.TrackCache` keyed by the extractor's settings
    (:meth:`AudioFeatureExtractor.key`) and the audio file's identity.

    Missing tracks are computed with joblib: threads for fewer than :data:`PROCESSES_FROM`
    files, processes from there on (``backend="auto"``; see :func:`extract_dataset`).
    """

    suffix = ".json"
    failures = (AudioDecodeError, FeatureError, OSError)
    desc = "features"

    def __init__(self, cache_dir: str | os.PathLike, extractor: AudioFeatureExtractor | None = None,
                 backend: str = "auto"):
        self.extractor = extractor or AudioFeatureExtractor()
        self.backend = backend
        super().__init__(cache_dir, f"features-{self.extractor.key()}")

    def compute(self, audio_path: str) -> dict[str, float]:
        return self.extractor.extract_all_features(audio_path)

    def read(self, target: Path) -> dict[str, float]:
        return json.loads(target.read_text())

    def write(self, target: Path, value: dict[str, float]) -> None:
        target.write_text(json.dumps(value))

    def reason(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {exc}"

    def fill(self, paths: list[str], n_jobs: int | None, progress: bool, desc: str):
        from joblib import Parallel, delayed

        workers = 1 if len(paths) < 2 else (n_jobs if n_jobs and n_jobs > 0 else cores_per_rank())
        backend = self.backend
        if backend == "auto":
            backend = "loky" if len(paths) >= PROCESSES_FROM else "threading"
        if workers == 1:
            results = (self.compute_one(p) for p in paths)
        else:
            results = Parallel(n_jobs=workers, backend=backend, return_as="generator")(
                delayed(self.compute_one)(p) for p in paths)
        return progress_bar(results, total=len(paths), desc=desc, disable=not progress)


def extract_dataset(paths, cache_dir: str | os.PathLike, extractor: AudioFeatureExtractor | None = None,
                    n_jobs: int = -1, progress: bool = True,
                    desc: str = "features", backend: str = "auto") -> tuple[pd.DataFrame, dict[str, str]]:
    """Descriptors of many files, in parallel, cached per track (:class:`FeatureCache`).

    Args:
        paths: audio files.
        cache_dir: folder for the per-track cache (e.g. ``run.cache_dir``).
        extractor: default :class:`AudioFeatureExtractor()`.
        n_jobs: workers (joblib); -1 = all cores (under torchrun, this rank's share of them), 1 = in this process.
        progress: show a progress bar.
        backend: joblib backend. ``"auto"`` (default): threads for fewer than
            :data:`PROCESSES_FROM` files to compute, processes (``"loky"``) from there on.
            Threads start at once and the heavy parts (FFTs, numpy, the numba median filter)
            release the GIL; processes each import librosa first (about 5 s) but never wait
            for the GIL, which librosa's many small steps hold: measured on 2 cores, 240 clips
            of 10 s took 26.6 s with threads and 21.0 s with processes, 20 clips 9.7 s with
            threads against 24 s with processes.

    Returns:
        ``(table, errors)``: one row per readable file (index = path as given,
        columns = :attr:`AudioFeatureExtractor.feature_names`), and path -> one-line
        reason for the files that were skipped.
    """
    cache = FeatureCache(cache_dir, extractor, backend)
    rows, errors = cache.build(paths, n_jobs=n_jobs, progress=progress, desc=desc)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=cache.extractor.feature_names)
    return table, errors


def run_features(run, extractor: AudioFeatureExtractor | None = None, n_jobs: int = -1,
                 progress: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """Descriptors of every usable track of a :class:`muzo_lib.data.runs.RunData`, cached in
    ``run.cache_dir``.

    Returns:
        ``(table, errors)``: ``table`` is indexed by ``track_id`` in ``run.tracks`` order,
        with the descriptors plus ``genre``, ``artist`` and ``split`` columns; ``errors``
        maps the track_id of every track that could not be used to a one-line reason.
    """
    table, errors = extract_dataset(run.tracks.path, run.cache_dir, extractor, n_jobs=n_jobs, progress=progress)
    by_path = run.tracks.set_index("path")
    ok = by_path.loc[table.index]
    table.index = pd.Index(ok.track_id.to_numpy(), name="track_id")
    for column in ("genre", "artist", "split"):
        table[column] = ok[column].to_numpy()
    return table, {by_path.loc[p, "track_id"]: reason for p, reason in errors.items()}


#: Columns of a feature table that are not features.
NON_FEATURE_COLUMNS = ("genre", "label", "artist", "split", "filename", "length", "path", "track_id")


def feature_columns(table: pd.DataFrame, include_extras: bool = True) -> list[str]:
    """The numeric descriptor columns of a feature table (``length``, labels, ids dropped);
    ``include_extras=False`` keeps the GTZAN table's 57 only."""
    names = [c for c in table.columns if c not in NON_FEATURE_COLUMNS and pd.api.types.is_numeric_dtype(table[c])]
    return names if include_extras else [c for c in names if not c.startswith("extra_")]
