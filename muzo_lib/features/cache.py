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

A dataset of any size is used in bounded memory: :meth:`TrackCache.check` fills the cache
without holding its values, and :class:`CachedEntries` reads an entry from disk when it is
asked for, keeping only the most recently used ones up to a size in MB.

:class:`LogMelCache` keeps each track's log-mel (float16 ``.npy``).
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
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


def bounded_map(pool: Executor, fn: Callable, items: Iterable, ahead: int) -> Iterator:
    """``pool.map(fn, items)`` with at most ``ahead`` calls submitted and not yet consumed.

    ``Executor.map`` submits every item at once, so when the consumer is slower than the
    workers every result waits in memory (musicnn's decoded patches once did: 1.1 MB per
    track). Here the workers stay at most ``ahead`` items in front.
    """
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


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

    def verify(self, target: Path) -> None:
        """Check an entry without keeping its value (what :meth:`check` does with a warm one);
        raises as :meth:`read` does. A cache whose entries can be checked without reading them
        whole (a header and a file size) replaces it."""
        self.read(target)

    def reason(self, exc: BaseException) -> str:
        """The one-line reason reported for a track that failed."""
        return str(exc)

    # ---------------------------------------------------------------- the one loop

    def path_for(self, audio_path: str | os.PathLike) -> Path:
        return self.folder / f"{Path(audio_path).stem}-{file_identity(audio_path)}{self.suffix}"

    def cached(self, audio_path: str | os.PathLike, keep: bool = True):
        """The entry's value, or ``None`` when there is none or it was damaged (then deleted and counted).

        ``keep=False`` only checks the entry (:meth:`verify`) and returns ``True`` for a good one.

        Raises:
            OSError: the audio file itself cannot be read (its identity is part of the key).
        """
        target = self.path_for(audio_path)
        try:
            if not keep:
                self.verify(target)
                return True
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
        threads = self.threads(n_jobs)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            yield from progress_bar(bounded_map(pool, self.compute_one, paths, 2 * threads), total=len(paths),
                                    desc=desc, disable=not progress)

    def build(self, paths, n_jobs: int | None = None, progress: bool = True,
              desc: str | None = None, keep: bool = True) -> tuple[dict[str, object], dict[str, str]]:
        """Load or compute every path's value; warm entries load here (a pool would cost more
        than the reads), missing and damaged ones go to :meth:`fill`.

        Under torchrun (a process group of several ranks) the missing entries are shared out:
        see :meth:`fill_over_ranks`. Every rank must then call ``build`` with the same paths.

        Args:
            keep: ``False`` holds no value (each is ``True``): see :meth:`check`.

        Returns:
            ``(values, errors)``, both in the order of ``paths``: path -> value for the files
            that worked, and path -> one-line reason for those that could not be used.
        """
        paths = [str(p) for p in paths]
        values, errors, missing = {}, {}, []
        for path in paths:
            try:
                value = self.cached(path, keep)
            except OSError as exc:
                errors[path] = f"cannot read file ({exc.strerror or exc})"
                continue
            if value is None:
                missing.append(path)
            else:
                values[path] = value
        if ranks.current().world_size > 1:      # every rank, even with nothing missing: the others wait for it
            self.fill_over_ranks(missing, values, errors, n_jobs, progress, desc or self.desc, keep)
        elif missing:
            self._fill_into(missing, values, errors, n_jobs, progress, desc or self.desc, keep)
        return ({p: values[p] for p in paths if p in values}, {p: errors[p] for p in paths if p in errors})

    def check(self, paths, n_jobs: int | None = None, progress: bool = True, desc: str | None = None) -> dict[str, str]:
        """:meth:`build` without holding any value: every path that works has an entry on disk
        afterwards (warm ones checked with :meth:`verify`, missing ones computed, shared over
        ranks), and the errors are returned. Memory stays that of a few tracks whatever their
        number; read the entries with :meth:`entries`."""
        return self.build(paths, n_jobs, progress, desc, keep=False)[1]

    def entries(self, paths: Mapping[str, str], memory_mb: float = 0) -> "CachedEntries":
        """``key -> entry`` for ``paths`` (key -> audio path), read from disk when asked: see :class:`CachedEntries`."""
        return CachedEntries(self, paths, memory_mb)

    def _fill_into(self, paths: list[str], values: dict, errors: dict, n_jobs, progress, desc, keep=True) -> None:
        """:meth:`fill` ``paths`` in this process, its results sorted into ``values`` and ``errors``."""
        self.computed.extend(paths)
        for path, value, error in self.fill(paths, n_jobs, progress, desc):
            if error is None:
                values[path] = value if keep else True
            else:
                errors[path] = error

    def fill_over_ranks(self, missing: list[str], values: dict, errors: dict, n_jobs, progress, desc,
                        keep: bool = True) -> None:
        """Compute the entries any rank misses, each on one rank, and give every rank all of them.

        Rank ``r`` of ``w`` computes every ``w``-th path of the sorted union of the ranks'
        ``missing`` lists (in this process's threads or workers, as alone) and writes its
        entries; the ranks then meet, exchanging their failures (so every rank reports the same
        errors), and each reads (with ``keep=False``: checks) the others' entries from the cache
        folder. N ranks thus build a cold cache in about 1/N of the time, and all return the same values.

        An entry another rank wrote but this rank cannot find (cache folders on node-local
        disks) is computed here, with a warning: slower, still the same values.
        """
        info = ranks.current()
        todo = sorted(set().union(*ranks.all_gather_objects(missing)))   # one order on every rank
        mine = todo[info.rank::info.world_size]
        self._fill_into(mine, values, errors, n_jobs, progress, desc, keep)
        failed: dict[str, str] = {}
        # the meeting point: it returns once every rank has written its share (waits up to the group's timeout)
        for part in ranks.all_gather_objects({p: errors[p] for p in mine if p in errors}):
            failed.update(part)
        errors.update(failed)
        for path in todo:
            if path in failed:
                values.pop(path, None)
            elif path not in values:
                self._read_from_other_rank(path, values, errors, info.rank, keep)

    def _read_from_other_rank(self, path: str, values: dict, errors: dict, rank: int, keep: bool = True) -> None:
        """The entry another rank computed, from the cache folder (computed here if it is not there)."""
        value = self.cached(path, keep)
        if value is None:
            log.warning("cache entry %s (another rank's) not found on rank %d: computed here", self.path_for(path), rank)
            self.computed.append(path)
            _, value, error = self.compute_one(path)
            if error is not None:
                errors[path] = error
                return
        values[path] = value if keep else True


def entry_bytes(value) -> int:
    """Memory an entry holds: an array's bytes, or the sum over a dict's arrays."""
    if isinstance(value, dict):
        return sum(entry_bytes(v) for v in value.values())
    return int(getattr(value, "nbytes", 0))


class CachedEntries(Mapping):
    """``key -> cache entry`` (a track id -> its log-mel, say), read from disk when asked.

    What a run hands the networks and the classifiers instead of a dict of every array: a
    dataset of any size is then used in bounded memory. The most recently used entries are
    kept in memory up to ``memory_mb`` (least recently used dropped first), so a dataset
    that fits (the course's 240 tracks: 26 MB of log-mels) is read from disk once, and one
    that does not (FMA-medium: 25,000 x 160 kB) costs one file read per entry asked for.

    Each entry's file is named when the mapping is made (one ``stat`` of each audio file), so
    reading it needs the cache file alone: an audio file moved or deleted afterwards does not
    stop a training. An entry missing or damaged since is computed again from its audio
    file on access; a track that cannot be computed raises what :meth:`TrackCache.compute` raises.

    Args:
        cache: the :class:`TrackCache` the entries live in.
        paths: key -> audio path, in the order the keys iterate.
        memory_mb: most MB of entries kept in memory (0: none, every access reads the file).

    Example:
        >>> errors = cache.check(run.tracks.path)                  # fill the cache, hold nothing
        >>> logmels = cache.entries(dict(zip(run.tracks.track_id, run.tracks.path)), memory_mb=256)
        >>> logmels["blues.00000"].shape                          # read now (and kept, within 256 MB)
    """

    def __init__(self, cache: TrackCache, paths: Mapping[str, str], memory_mb: float = 0):
        if memory_mb < 0:
            raise ValueError(f"memory_mb must be >= 0, got {memory_mb}")
        self.cache, self.paths, self.budget = cache, dict(paths), int(memory_mb * 2**20)
        self.targets = {key: cache.path_for(path) for key, path in self.paths.items()}
        self._recent: OrderedDict = OrderedDict()
        self.held_bytes = 0
        #: entries read from disk (misses of the in-memory part), for benchmarks and tests
        self.reads = 0

    def __getitem__(self, key):
        path = self.paths[key]
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        try:
            value = self.cache.read(self.targets[key])
        except (FileNotFoundError, *DAMAGE):
            value = self.cache.load(path)                 # deleted or damaged since: computed again
        self.reads += 1
        size = entry_bytes(value)
        if size <= self.budget:
            self._recent[key] = value
            self.held_bytes += size
            while self.held_bytes > self.budget:
                self.held_bytes -= entry_bytes(self._recent.popitem(last=False)[1])
        return value

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __contains__(self, key) -> bool:
        return key in self.paths

    def __repr__(self) -> str:
        return (f"CachedEntries({len(self)} entries in {self.cache.folder}, "
                f"{self.held_bytes / 2**20:.1f} of {self.budget / 2**20:g} MB held)")


class MappedEntries(Mapping):
    """``fn(mapping[key])`` for every key of ``mapping``, computed when asked (nothing held)."""

    def __init__(self, mapping: Mapping, fn: Callable):
        self.mapping, self.fn = mapping, fn

    def __getitem__(self, key):
        return self.fn(self.mapping[key])

    def __iter__(self):
        return iter(self.mapping)

    def __len__(self) -> int:
        return len(self.mapping)

    def __contains__(self, key) -> bool:
        return key in self.mapping


class KeyedSequence(Sequence):
    """``mapping[keys[i]]`` as a sequence: the entries of some keys, in their order, looked up
    when indexed (a :class:`CachedEntries` then reads them from disk only as they are used)."""

    def __init__(self, mapping: Mapping, keys: Iterable):
        self.mapping, self.keys = mapping, list(keys)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return KeyedSequence(self.mapping, self.keys[i])
        return self.mapping[self.keys[i]]

    def __len__(self) -> int:
        return len(self.keys)


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

    def verify(self, target: Path) -> None:
        """The header and the file's length, without reading the array (a truncated file fails)."""
        np.load(target, mmap_mode="r", allow_pickle=False)

    def write(self, target: Path, value: np.ndarray) -> None:
        with open(target, "wb") as f:  # a file object: np.save would append ".npy" to a name
            np.save(f, value)
