"""musicnn embeddings of waveforms and of a whole dataset, cached per track.

``embed(waveform)`` cuts a 16 kHz waveform into consecutive 3 s patches (musicnn's own
convention: non-overlapping, a partial tail dropped; a clip shorter than 3 s is padded
with silence to one patch), runs the pretrained network on all of them in one batch and
returns, per patch and averaged per track: the 200-unit penultimate layer, the 753 + 753
mean- and max-pooled front/mid-end channels, and the 50 tag probabilities with their names.

The log-mel input is computed in float32 (musicnn's own extractor casts to float16 before
the log, which overflows to inf on loud clips and silently ruins its output).

:class:`EmbeddingCache` keeps each track's per-patch outputs on disk (``.npz``, float32),
keyed by everything that changes them: the variant, the compute precision actually used,
the seconds read, the patching, this module's format version and the audio file's identity.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from muzo_lib.features.cache import CachedEntries, TrackCache
from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig
from muzo_lib.io.audio import AudioDecodeError, load_audio
from muzo_lib.io.progress import progress_bar

from .musicnn import HOP_LENGTH, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE, VARIANTS, FoldedMusicnn, check_variant, load_musicnn

#: Bump when the cached arrays' meaning changes (keys, patching, network code).
CACHE_FORMAT = 1
#: Per-patch outputs kept for every track.
OUTPUTS = ("penultimate", "mean_pool", "max_pool", "tags")
#: Track-level feature sets a classifier can use (see :func:`track_features`).
LAYERS = {"penultimate": ("penultimate",), "pooled": ("mean_pool", "max_pool"), "tags": ("tags",),
          "penultimate+pooled": ("penultimate", "mean_pool", "max_pool")}
MUSICNN_MEL = MelConfig(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, top_db=None)


@dataclass(frozen=True)
class EmbeddingConfig:
    """How embeddings are computed (every field changes them, so all are in the cache key).

    Attributes:
        variant: ``"MSD_musicnn"`` (Million Song Dataset tags, the default: its tags include
            genres) or ``"MTT_musicnn"`` (MagnaTagATune: instruments, moods, a few genres).
        precision: ``"auto"`` (bf16 convolutions where the CPU/GPU runs bf16 natively, else
            float32), ``"float32"`` or ``"bf16"``.
        duration: seconds read from the start of each file; ``None`` reads it all.
        device: ``None``/``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; not in the key.
    """
    variant: str = "MSD_musicnn"
    precision: str = "auto"
    duration: float | None = None
    device: str | None = None

    def __post_init__(self):
        check_variant(self.variant)
        if self.precision not in ("auto", "float32", "bf16"):
            raise ValueError(f"EmbeddingConfig.precision must be 'auto', 'float32' or 'bf16', got {self.precision!r}")
        if self.duration is not None and not self.duration > 0:
            raise ValueError(f"EmbeddingConfig.duration must be positive seconds or None, got {self.duration!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def compute_dtype(self) -> torch.dtype:
        """The dtype the convolutions will run in on this machine."""
        from muzo_lib.models.devices import cpu_has_native_bf16, resolve_device

        if self.precision != "auto":
            return {"float32": torch.float32, "bf16": torch.bfloat16}[self.precision]
        device = resolve_device(self.device)
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32

    def key(self) -> str:
        """Short hash of everything that changes the cached arrays (the resolved precision included)."""
        settings = {"variant": self.variant, "dtype": str(self.compute_dtype()), "duration": self.duration,
                    "patch_frames": PATCH_FRAMES, "mel": MUSICNN_MEL.to_dict(), "format": CACHE_FORMAT}
        return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=4)
def _network(variant: str, dtype: torch.dtype, device: str) -> FoldedMusicnn:
    return FoldedMusicnn(load_musicnn(variant), dtype).to(device)


class Embedder:
    """A loaded musicnn plus its front end: waveforms at 16 kHz -> per-patch outputs.

    Example:
        >>> embedder = Embedder(EmbeddingConfig("MSD_musicnn"))
        >>> out = embedder(load_audio("song.wav", 16000))
        >>> out["penultimate"].shape        # (patches, 200); patches = 10 for a 30 s clip
    """

    def __init__(self, config: EmbeddingConfig | None = None):
        from muzo_lib.models.devices import resolve_device

        self.config = config or EmbeddingConfig()
        self.device = resolve_device(self.config.device)
        self.dtype = self.config.compute_dtype()
        self.network = _network(self.config.variant, self.dtype, str(self.device))
        self.front_end = LogMelSpectrogram(MUSICNN_MEL)
        self.tag_names = list(VARIANTS[self.config.variant])

    sample_rate = SAMPLE_RATE

    @torch.inference_mode()
    def patches(self, waveform: np.ndarray) -> torch.Tensor:
        """musicnn's input ``(patches, 187, 96)``: float32 ``log10(10000 * mel power + 1)`` in 3 s patches."""
        y = np.asarray(waveform, dtype=np.float32)
        if y.ndim != 1:
            raise ValueError(f"embed takes one mono waveform (samples,), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("the waveform holds NaN or infinite samples")
        min_samples = (PATCH_FRAMES - 1) * HOP_LENGTH
        if len(y) < min_samples:
            y = np.pad(y, (0, min_samples - len(y)))
        power = self.front_end.power_mel(torch.from_numpy(y))            # (96, frames)
        logmel = torch.log10(10000.0 * power + 1.0).T                    # (frames, 96)
        n = logmel.shape[0] // PATCH_FRAMES
        return logmel[:n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS)

    @torch.inference_mode()
    def run(self, patches: torch.Tensor) -> dict[str, np.ndarray]:
        """Per-patch outputs (float32 numpy) of a ``(patches, 187, 96)`` batch."""
        out = self.network(patches.to(self.device))
        return {name: getattr(out, name).float().cpu().numpy() for name in OUTPUTS}

    def __call__(self, waveform: np.ndarray) -> dict[str, np.ndarray]:
        return self.run(self.patches(waveform))


def embed(waveform: np.ndarray, config: EmbeddingConfig | None = None) -> dict:
    """musicnn's view of one mono 16 kHz waveform.

    Args:
        waveform: float32 samples at 16 kHz (``load_audio(path, 16000)``), any length.
        config: variant and precision (default: MSD_musicnn, bf16 where native).

    Returns:
        dict with, per patch (``(patches, dim)``): ``penultimate`` (200), ``mean_pool`` (753),
        ``max_pool`` (753), ``tags`` (50 probabilities); per track (means over patches):
        ``track_penultimate``, ``track_pooled`` (1506: mean_pool then max_pool), ``track_tags``;
        ``tag_names`` (50) and ``patch_seconds`` (3 s patch hop, for a taggram's time axis).
    """
    embedder = Embedder(config)
    out = embedder(waveform)
    return {**out, "track_penultimate": out["penultimate"].mean(0),
            "track_pooled": np.concatenate([out["mean_pool"].mean(0), out["max_pool"].mean(0)]),
            "track_tags": out["tags"].mean(0), "tag_names": embedder.tag_names,
            "patch_seconds": PATCH_FRAMES * HOP_LENGTH / SAMPLE_RATE}


def track_features(outputs: dict[str, np.ndarray], layer: str = "penultimate") -> np.ndarray:
    """One vector per track from its per-patch outputs: the mean over patches of ``layer``'s arrays.

    ``layer``: ``"penultimate"`` (200), ``"pooled"`` (1506), ``"tags"`` (50) or ``"penultimate+pooled"``.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown embedding layer {layer!r}; choose one of {sorted(LAYERS)}")
    return np.concatenate([np.asarray(outputs[name], dtype=np.float32).mean(0) for name in LAYERS[layer]])


class EmbeddingCache(TrackCache):
    """Per-track musicnn outputs on disk under ``cache_dir/musicnn-<key>/``: a
    :class:`muzo_lib.features.cache.TrackCache` whose missing tracks decode in threads while the
    network runs in this one.

    Example:
        >>> cache = EmbeddingCache("runs/course/cache", EmbeddingConfig())
        >>> outputs, errors = cache.build(paths)     # cold: decode + network; warm: load
    """

    suffix = ".npz"
    failures = (AudioDecodeError, OSError, ValueError)
    workers = 2
    #: tracks decoded before the network runs on them (see :meth:`fill`)
    chunk = 16
    desc = "musicnn embeddings"

    def __init__(self, cache_dir: str | os.PathLike, config: EmbeddingConfig | None = None):
        self.config = config or EmbeddingConfig()
        super().__init__(cache_dir, f"musicnn-{self.config.variant}-{self.config.key()}")
        self._embedder = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.config)
        return self._embedder

    def _decode(self, audio_path) -> torch.Tensor:
        return self.embedder.patches(load_audio(audio_path, SAMPLE_RATE, duration=self.config.duration))

    def compute(self, audio_path: str) -> dict[str, np.ndarray]:
        return self.embedder.run(self._decode(audio_path))

    def read(self, target: Path) -> dict[str, np.ndarray]:
        with np.load(target) as data:
            return {name: data[name] for name in OUTPUTS}

    def verify(self, target: Path) -> None:
        """The archive's directory names every output (it sits at the file's end: a truncated file fails)."""
        with np.load(target) as data:
            if missing := set(OUTPUTS) - set(data.files):
                raise KeyError(f"no {sorted(missing)} in {target.name}")

    def write(self, target: Path, value: dict[str, np.ndarray]) -> None:
        with open(target, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **value)

    def fill(self, paths: list[str], n_jobs: int | None, progress: bool, desc: str):
        """Decode :attr:`chunk` tracks in threads, then run the network on them here (one batch of
        patches per track) and store each, chunk after chunk: memory holds one chunk's patches
        (0.7 MB per 30 s track), and decoding never competes with the network for the cores
        (a pool decoding ahead while the network ran was 20% slower on 2 cores, and held every
        track's patches once the network fell behind: 1.1 MB per track)."""
        def decode(path):
            try:
                return path, self._decode(path), None
            except self.failures as exc:
                return path, None, self.reason(exc)

        with ThreadPoolExecutor(max_workers=self.threads(n_jobs)) as pool, \
                progress_bar(total=len(paths), desc=desc, disable=not progress) as bar:
            for start in range(0, len(paths), self.chunk):
                for path, patches, error in list(pool.map(decode, paths[start:start + self.chunk])):
                    yield path, (None if error else self.store(path, self.embedder.run(patches))), error
                    bar.update()


def run_embeddings(run, config: EmbeddingConfig | None = None, progress: bool = True) -> CachedEntries:
    """track_id -> per-patch musicnn outputs for every usable track of a run (cached in ``run.cache_dir``).

    The cache is filled first; each track's outputs are then read from it when asked for
    (:class:`~muzo_lib.features.cache.CachedEntries`, none kept in memory), so reducing them
    track by track (:func:`track_features`) holds one track's patches at a time.

    Tracks that fail to decode are dropped and reported (:meth:`muzo_lib.data.runs.RunData.drop_tracks`),
    as :meth:`muzo_lib.data.runs.RunData.logmels` does.
    """
    return run.cached_entries(EmbeddingCache(run.cache_dir, config), "musicnn embeddings", progress=progress)
