"""A run: one folder that holds everything an experiment produces.

Every notebook starts with :func:`prepare_run`. The first one to run scans the dataset
and makes the split; later ones load both, so a full ordered course does the work once
and each notebook still runs on its own. A stored manifest is reused only while the
dataset folder still holds the same files (path, size and modification time of each,
one ``stat`` per file): a file added, removed or edited since makes the run rescan and
split again, and :attr:`RunData.dataset_changes` says what changed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from muzo_lib.data.datasets import dataset_listing, manifest_from_files, scan_dataset, skipped_report
from muzo_lib.data.splits import SplitInfo, make_split
from muzo_lib.features.cache import CachedEntries, LogMelCache, TrackCache
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.io.log import get_logger
from muzo_lib.io.paths import atomic_write_json, atomic_write_text, project_path

DEFAULT_RUN_DIR = "runs/course"
#: MB of log-mels a run keeps in memory once read (:meth:`RunData.logmels`): all of the course's
#: (26 MB) and of GTZAN's at 64 bands (160 MB); FMA's are read from the cache as they are used.
LOGMEL_MEMORY_MB = 256
log = get_logger(__name__)


@dataclass
class RunData:
    """The dataset of a run: every file scanned, the usable tracks and their split."""
    run_dir: Path
    data_dir: Path
    manifest: pd.DataFrame          # one row per file, skipped ones included
    tracks: pd.DataFrame            # usable tracks with a ``split`` column
    split_info: SplitInfo
    classes: list[str] = field(default_factory=list)
    #: why the stored manifest was rebuilt ("files: 2 added, 1 removed"), or "" if it was not
    dataset_changes: str = ""

    def subset(self, split: str) -> pd.DataFrame:
        """Tracks of one split (``"train"``, ``"valid"`` or ``"test"``)."""
        return self.tracks[self.tracks.split == split].reset_index(drop=True)

    def labels(self, split: str) -> np.ndarray:
        """Integer class indices (into :attr:`classes`) of one split's tracks."""
        return self.subset(split).genre.map(self.classes.index).to_numpy()

    def skipped(self) -> list[str]:
        return skipped_report(self.manifest)

    @property
    def cache_dir(self) -> Path:
        return self.run_dir / "cache"

    def logmels(self, config: MelConfig | None = None, n_jobs: int | None = None,
                progress: bool = True, memory_mb: float = LOGMEL_MEMORY_MB) -> CachedEntries:
        """track_id -> cached log-mel ``(n_mels, frames)`` for every usable track.

        The cache is filled first (cold: decode + log-mel, shared over torchrun ranks); the
        arrays are then read from it as they are used, the most recent ``memory_mb`` kept in
        memory (:class:`~muzo_lib.features.cache.CachedEntries`), so a dataset of any size
        trains and predicts in bounded memory and one that fits is read once.

        Tracks that fail to decode here (rare: the scan already decoded them) are dropped
        and reported (:meth:`drop_tracks`), never silently lost.
        """
        return self.cached_entries(LogMelCache(self.cache_dir, config), "log-mels", n_jobs, progress, memory_mb)

    def cached_entries(self, cache: TrackCache, step: str, n_jobs: int | None = None, progress: bool = True,
                       memory_mb: float = 0) -> CachedEntries:
        """track_id -> ``cache``'s entry for every usable track: the cache filled without holding
        its values (:meth:`~muzo_lib.features.cache.TrackCache.check`), the tracks it could not
        compute dropped and reported as ``step`` (:meth:`drop_tracks`), the entries read as used."""
        self.drop_tracks(cache.check(self.tracks.path, n_jobs=n_jobs, progress=progress), step)
        return cache.entries(dict(zip(self.tracks.track_id, self.tracks.path)), memory_mb)

    def drop_tracks(self, errors: dict[str, str], step: str) -> list[str]:
        """Drop the tracks a later step could not use (``errors``: audio path -> one-line reason)
        from :attr:`tracks`, mark them ``skipped`` with ``"<step>: <reason>"`` in :attr:`manifest`
        (so :meth:`skipped` reports them), and log one warning line on the ``muzo`` logger.

        Returns:
            the dropped tracks' ids (``[]`` when ``errors`` names none of the run's tracks).
        """
        bad = self.tracks.path.isin(errors)
        if not bad.any():
            return []
        dropped = list(self.tracks.track_id[bad])
        reasons = [errors[p] for p in self.tracks.path[bad]]
        in_manifest = self.manifest.path.isin(errors)
        self.manifest.loc[in_manifest, ["status", "reason"]] = \
            [["skipped", f"{step}: {errors[p]}"] for p in self.manifest.path[in_manifest]]
        self.tracks = self.tracks[~bad].reset_index(drop=True)
        shown = "; ".join(f"{t} ({r})" for t, r in zip(dropped[:3], reasons))
        log.warning("%d track(s) dropped from the run in %s: %s%s", len(dropped), step, shown,
                    "; ..." if len(dropped) > 3 else "")
        return dropped


def dataset_dir(data_dir: str | os.PathLike | None) -> Path:
    """The dataset folder: ``data_dir`` (relative to the current directory), or the built-in
    generated dataset (made on first use) when ``data_dir`` is empty or ``None``."""
    if data_dir:
        return Path(data_dir).expanduser()
    from muzo_lib.data.synth import ensure_generated_dataset
    return ensure_generated_dataset()


def prepare_run(data_dir: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None,
                seed: int = 0, split_strategy: str = "auto", valid_size: float = 0.15,
                test_size: float = 0.15, min_duration: float = 3.0) -> RunData:
    """Scan the dataset and split it, or load both from ``run_dir`` if an earlier
    notebook of this run already did it with the same settings.

    Args:
        data_dir: dataset folder (relative to the current directory); empty/``None`` = the
            built-in generated dataset.
        run_dir: where this run's artefacts live (relative to the current directory);
            ``None``: the project's :data:`DEFAULT_RUN_DIR`.
        seed: makes the split repeatable.
        split_strategy: ``auto``, ``gtzan``, ``given``, ``artist`` or ``track`` (see :func:`make_split`).
        valid_size, test_size: fractions of the tracks.
        min_duration: shortest usable track, seconds.

    Writes ``manifest.csv``, ``split.csv`` and ``dataset.json`` into ``run_dir``.
    """
    root = dataset_dir(data_dir)
    run = Path(run_dir).expanduser() if run_dir else project_path(DEFAULT_RUN_DIR)
    run.mkdir(parents=True, exist_ok=True)
    settings = dict(data_dir=str(root), seed=seed, split_strategy=split_strategy,
                    valid_size=valid_size, test_size=test_size, min_duration=min_duration)
    meta_path = run / "dataset.json"
    listing = dataset_listing(root)
    changes = ""
    if meta_path.exists() and (run / "manifest.csv").exists() and (run / "split.csv").exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}  # a damaged dataset.json: scan again
        if meta.get("settings") == settings:
            changes = describe_changes(meta.get("files"), listing)
            if not changes:
                return _load_run(run, root, meta)
    manifest = scan_dataset(root, min_duration=min_duration)
    split, info = make_split(manifest, seed=seed, valid_size=valid_size, test_size=test_size,
                             strategy=split_strategy)
    atomic_write_text(run / "manifest.csv", manifest.to_csv(index=False))
    atomic_write_text(run / "split.csv", split.to_csv(index=False))
    atomic_write_json(meta_path, {"settings": settings, "split_strategy": info.strategy,
                                  "split_note": info.note, "is_gtzan": manifest.attrs["is_gtzan"],
                                  "empty_genres": manifest.attrs["empty_genres"],
                                  "ignored_folders": manifest.attrs.get("ignored_folders", []),
                                  "files": listing})
    data = _run_data(run, root, manifest, split, info)
    data.dataset_changes = changes
    return data


def describe_changes(stored: dict | None, current: dict) -> str:
    """What differs between two :func:`muzo_lib.data.datasets.dataset_listing` results, in words
    (``"2 files added, 1 removed, 1 modified"``); ``""`` when they are the same."""
    if stored is None:
        return "no file list stored with the manifest"
    added = len(current.keys() - stored.keys())
    removed = len(stored.keys() - current.keys())
    modified = sum(1 for k in current.keys() & stored.keys() if current[k] != stored[k])
    parts = [f"{n} {word}" for n, word in ((added, "added"), (removed, "removed"), (modified, "modified")) if n]
    return ("files: " + ", ".join(parts)) if parts else ""


def run_from_files(files, labels, run_dir: str | os.PathLike, seed: int = 0, valid_size: float = 0.2,
                   test_size: float = 0.0, min_duration: float = 1.0) -> RunData:
    """A run over a list of files and their genres (the seed API's input) instead of a folder.

    Same checks as a folder scan (undecodable, silent and too-short files are skipped and
    reported), same split module: grouped by artist where every genre has at least two
    known artists (GTZAN's file names), else per file.

    Args:
        files, labels: audio paths and one genre name per path.
        run_dir: where the manifest, split and log-mel cache go.
        valid_size, test_size: fractions of the tracks (``test_size=0``: no test split).
    """
    run = Path(run_dir).expanduser()
    run.mkdir(parents=True, exist_ok=True)
    manifest = manifest_from_files(files, labels, min_duration=min_duration)
    known = manifest[(manifest.status == "ok") & (manifest.artist != "")]
    by_artist = (len(known) == int((manifest.status == "ok").sum())
                 and known.groupby("genre").artist.nunique().min() >= 2)
    split, info = make_split(manifest, seed=seed, valid_size=valid_size, test_size=test_size,
                             strategy="artist" if by_artist else "track")
    atomic_write_text(run / "manifest.csv", manifest.to_csv(index=False))
    atomic_write_text(run / "split.csv", split.to_csv(index=False))
    return _run_data(run, run, manifest, split, info)


def _load_run(run: Path, root: Path, meta: dict) -> RunData:
    manifest = pd.read_csv(run / "manifest.csv", keep_default_na=False,
                           dtype={"subgenre": str, "artist": str, "reason": str, "given_split": str})
    manifest.attrs.update(root=str(root), is_gtzan=meta["is_gtzan"], empty_genres=meta["empty_genres"],
                          ignored_folders=meta.get("ignored_folders", []))
    split = pd.read_csv(run / "split.csv", keep_default_na=False, dtype={"artist": str})
    return _run_data(run, root, manifest, split, SplitInfo(meta["split_strategy"], meta["split_note"]))


def _run_data(run: Path, root: Path, manifest: pd.DataFrame, split: pd.DataFrame, info: SplitInfo) -> RunData:
    tracks = manifest[manifest.status == "ok"].drop(columns=["status", "reason"]).merge(
        split[["track_id", "split"]], on="track_id", how="inner")
    return RunData(run_dir=run, data_dir=root, manifest=manifest, tracks=tracks.reset_index(drop=True),
                   split_info=info, classes=sorted(tracks.genre.unique()))


#: The keys every ``metrics/<name>.json`` of a model starts with (:func:`score_record`): what the
#: course summary, the notebooks and the tests read. Scores are percent, track level.
SCORE_KEYS = ("model", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "n", "split", "level")


def score_record(model: str, scores: dict | None, split: str = "test", level: str = "track", **details) -> dict:
    """The one shape of a model's metrics JSON: :data:`SCORE_KEYS`, then ``details``.

    Args:
        model: the model's name (the file's stem, usually).
        scores: ``accuracy``, ``macro_f1`` (percent), ``accuracy_ci``, ``macro_f1_ci`` (95% intervals)
            and ``n`` (items scored), e.g. :func:`~muzo_lib.evaluation.metrics.classification_metrics`
            with :func:`~muzo_lib.evaluation.metrics.metric_intervals`; ``None`` (nothing to score):
            every score ``None`` and ``n`` 0. A missing key is ``None``.
        split, level: what was scored (``"test"``, ``"track"``).
        details: anything else the file keeps (settings, history, per-class scores); a detail
            may not replace a score key.
    """
    clash = set(details) & set(SCORE_KEYS)
    if clash:
        raise ValueError(f"score_record: {sorted(clash)} are score keys, give them in `scores`")
    scores = scores or {"n": 0}
    ci = {k: (list(scores[k]) if scores.get(k) is not None else None) for k in ("accuracy_ci", "macro_f1_ci")}
    return {"model": model, "accuracy": scores.get("accuracy"), "accuracy_ci": ci["accuracy_ci"],
            "macro_f1": scores.get("macro_f1"), "macro_f1_ci": ci["macro_f1_ci"], "n": scores.get("n", 0),
            "split": split, "level": level, **details}


def save_metrics(run_dir: str | os.PathLike, name: str, metrics: dict) -> Path:
    """Write one model's scores to ``<run_dir>/metrics/<name>.json`` (atomically).

    The course summary lists every file there; make ``metrics`` with :func:`score_record`, so
    ``accuracy`` and ``macro_f1`` (percent, track level, test split) are where it reads them.
    """
    return atomic_write_json(Path(run_dir) / "metrics" / f"{name}.json", metrics)


def load_metrics(run_dir: str | os.PathLike, folder: str = "metrics") -> dict[str, dict]:
    """Every ``metrics/<name>.json`` of a run (or of another of its folders, e.g. ``cv``), by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((Path(run_dir) / folder).glob("*.json"))}


def save_cv_metrics(run_dir: str | os.PathLike, name: str, metrics: dict) -> Path:
    """Write one model's cross-validated scores to ``<run_dir>/cv/<name>.json`` (atomically).

    Kept apart from ``metrics/`` (the test split's scores): the course summary lists them
    in a table of their own, so no number is read under the wrong protocol. ``metrics``
    is :func:`muzo_lib.course.members.cv_record`'s dict."""
    return atomic_write_json(Path(run_dir) / "cv" / f"{name}.json", metrics)
