"""The generated dataset on disk: ``<root>/<genre>/<subgenre>/<track>.wav`` + ``metadata.csv``.

Writing is idempotent (a folder holding the same parameters in ``synth.json`` is returned
at once) and atomic (tracks are written to a staging folder that is renamed into place).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed

from muzo_lib.io.paths import project_path

from .artists import derive_seed
from .sequencer import render
from .styles import GENRES, get_style

#: Where notebooks and tests keep the generated dataset (relative to the project root).
DEFAULT_DATASET_DIR = "data/generated"
#: Bumped whenever the sound of a track changes, so stale datasets are regenerated.
SYNTH_VERSION = 2
PARAMS_FILE = "synth.json"
METADATA_COLUMNS = ["path", "artist", "genre", "subgenre", "tempo_bpm", "key", "seed", "artist_seed"]
#: From this many tracks on, :func:`generate_dataset` renders in processes rather than threads.
PROCESSES_FROM = 48
#: Lowest sample rate (Hz) the instruments are designed for: the drum kit filters up to 3.5 kHz.
MIN_SAMPLE_RATE = 8000


def render_track(genre: str, subgenre: str, seed: int = 0, duration: float = 10.0,
                 sample_rate: int = 22050, artist_seed: int | None = None) -> np.ndarray:
    """Render one track in memory, for listening in a notebook without writing files.

    Args:
        genre, subgenre: a style of :data:`GENRES` (``"reggae"``, ``"roots"``).
        seed: the track's seed; the same arguments give the same samples.
        duration: length in seconds.
        sample_rate: in Hz, at least :data:`MIN_SAMPLE_RATE`.
        artist_seed: the artist's seed; tracks sharing it share tempo and key preference,
            instruments, drum kit and mix. ``None``: the track is its own artist.

    Returns:
        ``np.ndarray`` of shape ``(round(duration * sample_rate),)``, float32 in [-1, 1],
        peak-normalised to a random level between -9 and -0.5 dBFS.

    Example:
        >>> from IPython.display import Audio
        >>> Audio(render_track("jazz", "swing", seed=3), rate=22050)  # doctest: +SKIP
    """
    _check_sample_rate(sample_rate)
    audio, _ = render(get_style(genre, subgenre), seed, artist_seed, duration, sample_rate)
    return audio


def generate_dataset(root: str | os.PathLike, tracks_per_subgenre: int = 20, duration: float = 10.0,
                     sample_rate: int = 22050, seed: int = 0, genres=None,
                     artists_per_subgenre: int = 5, overwrite: bool = False, n_jobs: int = -1) -> Path:
    """Write the synthetic dataset as ``<root>/<genre>/<subgenre>/<track>.wav`` + ``metadata.csv``.

    The defaults (6 genres x 2 subgenres x 20 tracks of 10 s = 240 tracks; 5 artists
    per subgenre, 4 tracks each) leave an artist-grouped split stratified by subgenre
    with 48 test and 48 validation tracks: one artist of every subgenre on each of those
    sides (2 per genre), the other 3 in training. Files are 16-bit PCM mono WAV; the same arguments give
    byte-identical files.

    Args:
        root: dataset folder; relative paths are taken as given (see
            :func:`ensure_generated_dataset` for project-relative ones).
        tracks_per_subgenre: tracks per subgenre, dealt round-robin to the artists.
        duration: track length in seconds.
        sample_rate: in Hz, at least :data:`MIN_SAMPLE_RATE`.
        seed: dataset seed; every track and artist seed derives from it and from names,
            so a larger dataset contains the tracks of a smaller one.
        genres: genre names from :data:`GENRES` to include; ``None`` for all.
        artists_per_subgenre: synthetic artists per subgenre.
        overwrite: replace a generated dataset made with other parameters. One that an
            older synthesiser made with the same parameters is stale (its tracks no longer
            sound like :data:`GENRES`) and is replaced without it.
        n_jobs: parallel workers (joblib); the output does not depend on it. Many tracks are
            rendered in processes: the synthesiser's many small numpy calls hold the GIL, and
            240 tracks took 13.8 s in two processes against 19.2 s in two threads (2 cores).
            A few tracks are rendered in threads, which start at once where processes take a second.

    Returns:
        The dataset folder. If it already holds a complete dataset made with the same
        parameters (recorded in ``synth.json``), it is returned at once.

    Raises:
        ValueError: ``root`` holds a dataset made with other parameters and ``overwrite``
            is False, or holds files that are not a generated dataset.
    """
    root = Path(root).expanduser()
    params = _dataset_params(tracks_per_subgenre, duration, sample_rate, seed, genres,
                             artists_per_subgenre)
    stored = _read_params(root)
    if stored == params:
        return root
    stale = stored is not None and {**stored, "synth_version": SYNTH_VERSION} == params
    _check_replaceable(root, overwrite or stale)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".partial"))
    try:
        _write_dataset(staging, params, n_jobs)
        return _move_into_place(staging, root, params)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_generated_dataset(root: str | os.PathLike | None = None, **kwargs) -> Path:
    """The generated dataset under the project root, made on first use.

    This is what a notebook calls when its ``data_dir`` parameter is empty.

    Args:
        root: dataset folder (relative to the current directory); default: the project's
            :data:`DEFAULT_DATASET_DIR`.
        **kwargs: passed to :func:`generate_dataset`.

    Returns:
        The absolute dataset folder.
    """
    return generate_dataset(Path(root).expanduser() if root else project_path(DEFAULT_DATASET_DIR), **kwargs)


# ---------------------------------------------------------------- dataset files

def _dataset_params(tracks_per_subgenre, duration, sample_rate, seed, genres, artists_per_subgenre) -> dict:
    names = list(GENRES) if genres is None else list(genres)
    unknown = [g for g in names if g not in GENRES]
    if unknown:
        raise ValueError(f"unknown genre(s) {unknown}; choose from {list(GENRES)}")
    if len(names) < 2 or tracks_per_subgenre < 1 or artists_per_subgenre < 1 or duration <= 0:
        raise ValueError("need at least two genres, one track and one artist per subgenre, "
                         "and a positive duration")
    _check_sample_rate(sample_rate)
    return dict(synth_version=SYNTH_VERSION, tracks_per_subgenre=int(tracks_per_subgenre),
                duration=float(duration), sample_rate=int(sample_rate), seed=int(seed),
                genres=names, artists_per_subgenre=int(artists_per_subgenre))


def _check_sample_rate(sample_rate: int) -> None:
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate {sample_rate} Hz is below the synthesiser's minimum of {MIN_SAMPLE_RATE} Hz")


def _read_params(root: Path) -> dict | None:
    try:
        return json.loads((root / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_replaceable(root: Path, overwrite: bool) -> None:
    """Refuse to replace anything but an empty folder or, with ``overwrite``, a generated dataset."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return
    if _read_params(root) is None:
        raise ValueError(f"{root} exists and is not a generated dataset (no {PARAMS_FILE}); "
                         "choose another folder")
    if not overwrite:
        raise ValueError(f"{root} holds a generated dataset made with other parameters "
                         f"({root / PARAMS_FILE}); pass overwrite=True or choose another folder")


def _move_into_place(staging: Path, root: Path, params: dict) -> Path:
    """Swap the finished dataset in with renames, so ``root`` is never half written."""
    if root.exists():
        old = staging.with_suffix(".old")
        root.rename(old)
        shutil.rmtree(old)
    try:
        staging.rename(root)
    except OSError:
        if _read_params(root) != params:  # another process finished the same dataset first
            raise
    return root


def _track_list(params: dict) -> list[dict]:
    tracks = []
    for genre in params["genres"]:
        for subgenre in GENRES[genre]:
            for i in range(params["tracks_per_subgenre"]):
                artist = i % params["artists_per_subgenre"]
                tracks.append(dict(
                    path=f"{genre}/{subgenre}/{genre}_{subgenre}_{i:03d}.wav",
                    artist=f"{genre}_{subgenre}_artist{artist + 1}", genre=genre, subgenre=subgenre,
                    seed=derive_seed(params["seed"], genre, subgenre, "track", i),
                    artist_seed=derive_seed(params["seed"], genre, subgenre, "artist", artist)))
    return tracks


def _write_dataset(folder: Path, params: dict, n_jobs: int) -> None:
    tracks = _track_list(params)
    jobs = (delayed(_write_track)(folder, t, params["duration"], params["sample_rate"]) for t in tracks)
    facts = Parallel(n_jobs=n_jobs, prefer="processes" if len(tracks) >= PROCESSES_FROM else "threads")(jobs)
    rows = [{**t, **f} for t, f in zip(tracks, facts)]
    pd.DataFrame(rows, columns=METADATA_COLUMNS).to_csv(folder / "metadata.csv", index=False)
    (folder / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")  # last: marks it complete


def _write_track(folder: Path, track: dict, duration: float, sample_rate: int) -> dict:
    style = get_style(track["genre"], track["subgenre"])
    audio, facts = render(style, track["seed"], track["artist_seed"], duration, sample_rate)
    path = folder / track["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(audio * 32767).astype(np.int16)
    sf.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return facts
