"""Per-track caches: each track's expensive result computed once and kept on disk.

:class:`TrackCache` is the one loop every per-track cache uses (log-mels here, hand-made
descriptors in :mod:`muzo_lib.features.handmade`, musicnn embeddings in
:mod:`muzo_lib.models.pretrained.embeddings`): an entry is keyed by every setting that changes it
(the cache's folder name) and by the audio file's identity (absolute path, size,
modification time), so editing a file or a setting recomputes exactly what changed and
nothing else; warm entries load in this process, missing ones are computed several at a
time (and, under torchrun, shared out over the ranks: each computes its part, then reads
the others'); a track that cannot be computed is reported, never raised; and a damaged entry
(truncated, not the format) has one rule: it is deleted, recomputed and counted in
:attr:`TrackCache.damaged`, with a one-line warning on the ``muzo`` logger.

:class:`LogMelCache` keeps each track's log-mel (float16 ``.npy``).
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig
from muzo_lib.io import ranks
from muzo_lib.io.audio import AudioDecodeError, load_audio
from muzo_lib.io.log import get_logger
from muzo_lib.io.paths import atomic_write
from muzo_lib.io.progress import progress_bar

log = get_logger(__name__)

#: What reading a damaged entry raises (a truncated or foreign ``.npy``/``.npz``/``.json``).
DAMAGE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def file_identity(path: str | os.PathLike) -> str:
    """Short hash of (absolute path, size, mtime): changes when the file changes."""
    p = Path(path).resolve()
    st = p.stat()
    return hashlib.sha1(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


class TrackCache:
    """One file per track under ``cache_dir/<name>/``; ``name`` carries every setting's key.

    A subclass says how to :meth:`compute` a track's value and how to :meth:`read` and
    :meth:`write` one entry (``suffix`` is its file ending); it may replace :meth:`fill`
    to compute missing tracks another way than in threads.

    Attributes:
        folder: where the entries live.
        damaged: audio paths whose entry was damaged, deleted and recomputed (this object's uses).
        computed: audio paths whose entry this object computed in ``build`` (this process's
            share under torchrun), in the order given to :meth:`fill`.
    """

    suffix = ".npy"
    #: errors of one track that are reported in ``build``'s ``errors`` (the track skipped), not raised
    failures: tuple[type[BaseException], ...] = (AudioDecodeError, OSError)
    #: threads of the default :meth:`fill` when ``n_jobs`` is not given
    workers = 4
    desc = "tracks"

    def __init__(self, cache_dir: str | os.PathLike, name: str):
        self.folder = Path(cache_dir) / name
        self.damaged: list[str] = []
        self.computed: list[str] = []

    # ---------------------------------------------------------------- what a cache defines

    def compute(self, audio_path: str):
        """The track's value, from its audio file (raises one of :attr:`failures` when it cannot)."""
        raise NotImplementedError

    def read(self, target: Path):
        """An entry's value; raises ``FileNotFoundError`` when there is none, one of :data:`DAMAGE` when it is damaged."""
        raise NotImplementedError

    def write(self, target: Path, value) -> None:
        """Write ``value`` to ``target`` (a temporary name, renamed into place afterwards)."""
        raise NotImplementedError

    def reason(self, exc: BaseException) -> str:
        """The one-line reason reported for a track that failed."""
        return str(exc)

    # ---------------------------------------------------------------- the one loop

    def path_for(self, audio_path: str | os.PathLike) -> Path:
        return self.folder / f"{Path(audio_path).stem}-{file_identity(audio_path)}{self.suffix}"

    def cached(self, audio_path: str | os.PathLike):
        """The entry's value, or ``None`` when there is none or it was damaged (then deleted and counted).

        Raises:
            OSError: the audio file itself cannot be read (its identity is part of the key).
        """
        target = self.path_for(audio_path)
        try:
            return self.read(target)
        except FileNotFoundError:
            return None
        except DAMAGE as exc:
            target.unlink(missing_ok=True)
            self.damaged.append(str(audio_path))
            log.warning("damaged cache entry %s (%s): deleted, recomputed", target, type(exc).__name__)
            return None

    def store(self, audio_path: str | os.PathLike, value):
        """Keep ``value`` as the track's entry (atomically: never half a file) and return it."""
        atomic_write(self.path_for(audio_path), lambda tmp: self.write(tmp, value))
        return value

    def load(self, audio_path: str | os.PathLike):
        """The track's value, computed and stored on first use (raises what :meth:`compute` raises)."""
        value = self.cached(audio_path)
        return value if value is not None else self.store(audio_path, self.compute(str(audio_path)))

    def compute_one(self, audio_path: str) -> tuple[str, object, str | None]:
        """``(path, value, None)``, or ``(path, None, reason)`` when the track fails."""
        try:
            return audio_path, self.store(audio_path, self.compute(audio_path)), None
        except self.failures as exc:
            return audio_path, None, self.reason(exc)

    def threads(self, n_jobs: int | None) -> int:
        """Threads of a :meth:`fill`: ``n_jobs`` when given, else :attr:`workers` within this rank's cores."""
        return n_jobs or min(self.workers, ranks.cores_per_rank())

    def fill(self, paths: list[str], n_jobs: int | None, progress: bool, desc: str) -> Iterable[tuple]:
        """Compute the missing ``paths``: :meth:`compute_one` in threads (decoding, resampling and
        FFTs release the GIL). Yields :meth:`compute_one`'s tuples."""
        with ThreadPoolExecutor(max_workers=self.threads(n_jobs)) as pool:
            yield from progress_bar(pool.map(self.compute_one, paths), total=len(paths), desc=desc,
                                    disable=not progress)

    def build(self, paths, n_jobs: int | None = None, progress: bool = True,
              desc: str | None = None) -> tuple[dict[str, object], dict[str, str]]:
        """Load or compute every path's value; warm entries load here (a pool would cost more
        than the reads), missing and damaged ones go to :meth:`fill`.

        Under torchrun (a process group of several ranks) the missing entries are shared out:
        see :meth:`fill_over_ranks`. Every rank must then call ``build`` with the same paths.

        Returns:
            ``(values, errors)``, both in the order of ``paths``: path -> value for the files
            that worked, and path -> one-line reason for those that could not be used.
        """
        paths = [str(p) for p in paths]
        values, errors, missing = {}, {}, []
        for path in paths:
            try:
                value = self.cached(path)
            except OSError as exc:
                errors[path] = f"cannot read file ({exc.strerror or exc})"
                continue
            if value is None:
                missing.append(path)
            else:
                values[path] = value
        if ranks.current().world_size > 1:      # every rank, even with nothing missing: the others wait for it
            self.fill_over_ranks(missing, values, errors, n_jobs, progress, desc or self.desc)
        elif missing:
            self._fill_into(missing, values, errors, n_jobs, progress, desc or self.desc)
        return ({p: values[p] for p in paths if p in values}, {p: errors[p] for p in paths if p in errors})

    def _fill_into(self, paths: list[str], values: dict, errors: dict, n_jobs, progress, desc) -> None:
        """:meth:`fill` ``paths`` in this process, its results sorted into ``values`` and ``errors``."""
        self.computed.extend(paths)
        for path, value, error in self.fill(paths, n_jobs, progress, desc):
            if error is None:
                values[path] = value
            else:
                errors[path] = error

    def fill_over_ranks(self, missing: list[str], values: dict, errors: dict, n_jobs, progress, desc) -> None:
        """Compute the entries any rank misses, each on one rank, and give every rank all of them.

        Rank ``r`` of ``w`` computes every ``w``-th path of the sorted union of the ranks'
        ``missing`` lists (in this process's threads or workers, as alone) and writes its
        entries; the ranks then meet, exchanging their failures (so every rank reports the same
        errors), and each reads the others' entries from the cache folder. N ranks thus build
        a cold cache in about 1/N of the time, and all return the same values.

        An entry another rank wrote but this rank cannot find (cache folders on node-local
        disks) is computed here, with a warning: slower, still the same values.
        """
        info = ranks.current()
        todo = sorted(set().union(*ranks.all_gather_objects(missing)))   # one order on every rank
        mine = todo[info.rank::info.world_size]
        self._fill_into(mine, values, errors, n_jobs, progress, desc)
        failed: dict[str, str] = {}
        # the meeting point: it returns once every rank has written its share (waits up to the group's timeout)
        for part in ranks.all_gather_objects({p: errors[p] for p in mine if p in errors}):
            failed.update(part)
        errors.update(failed)
        for path in todo:
            if path in failed:
                values.pop(path, None)
            elif path not in values:
                self._read_from_other_rank(path, values, errors, info.rank)

    def _read_from_other_rank(self, path: str, values: dict, errors: dict, rank: int) -> None:
        """The entry another rank computed, from the cache folder (computed here if it is not there)."""
        value = self.cached(path)
        if value is None:
            log.warning("cache entry %s (another rank's) not found on rank %d: computed here", self.path_for(path), rank)
            self.computed.append(path)
            _, value, error = self.compute_one(path)
            if error is not None:
                errors[path] = error
                return
        values[path] = value


class LogMelCache(TrackCache):
    """Per-track log-mel spectrograms ``(n_mels, frames)`` in float16, under ``cache_dir``.

    Args:
        cache_dir: folder for the cache (one sub-folder per setting).
        config: the front end's settings.
        duration: seconds read from each file (from the start); ``None`` reads it all.

    Example:
        >>> cache = LogMelCache("runs/course/cache", MelConfig())
        >>> arrays, errors = cache.build(paths)      # cold: decode + log-mel; warm: load
    """

    desc = "log-mels"

    def __init__(self, cache_dir: str | os.PathLike, config: MelConfig | None = None,
                 duration: float | None = None):
        self.config = config or MelConfig()
        self.duration = duration
        tag = "full" if duration is None else f"{duration:g}s"
        super().__init__(cache_dir, f"logmel-{self.config.key()}-{tag}")
        self.front_end = LogMelSpectrogram(self.config)

    def compute(self, audio_path: str) -> np.ndarray:
        y = load_audio(audio_path, self.config.sample_rate, duration=self.duration)
        with torch.inference_mode():
            return self.front_end.forward_long(torch.from_numpy(y)).numpy().astype(np.float16)  # no padded copy

    def read(self, target: Path) -> np.ndarray:
        return np.load(target, allow_pickle=False)

    def write(self, target: Path, value: np.ndarray) -> None:
        with open(target, "wb") as f:  # a file object: np.save would append ".npy" to a name
            np.save(f, value)
