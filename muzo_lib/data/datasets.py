"""Find a genre dataset on disk, list every track in a manifest, split it without leaks.

Layout: ``<root>/<genre>/<file>`` or ``<root>/<genre>/<subgenre>/<file>``. GTZAN's own
layout (``genres/blues/blues.00000.wav``) is recognised, with its known corrupt file,
its artists and the fault-filtered split of Kereliuk, Sturm & Larsen (2015).

A scan never stops on a bad file: each file becomes a manifest row whose ``status`` is
``"ok"`` or ``"skipped"``, with a one-line ``reason``. Track ids are unique: of
``song.wav`` and ``song.mp3`` in one folder, one is kept and the other reported.
"""
from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from muzo_lib.io.audio import AUDIO_EXTENSIONS, AudioDecodeError, SignalStats, audio_info, decode_blocks

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop",
                "jazz", "metal", "pop", "reggae", "rock")
#: Files of GTZAN known to be unusable (jazz.00054 does not decode).
GTZAN_CORRUPT = {"jazz.00054": "known corrupt GTZAN file"}
_GTZAN_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<num>\d{5})$")
#: Optional per-dataset metadata file at the dataset root: columns ``path`` and ``artist``, and
#: optionally ``split`` (``train``/``valid``/``test``: the dataset's own split, e.g. FMA's).
METADATA_FILE = "metadata.csv"
#: ``metadata.csv`` split names accepted, and the manifest's name for each (FMA writes training/validation).
SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid",
                 "test": "test", "": ""}
MANIFEST_COLUMNS = ["track_id", "path", "genre", "subgenre", "artist", "duration",
                    "sample_rate", "channels", "status", "reason", "given_split"]


class DatasetError(ValueError):
    """The dataset as a whole cannot be used (missing folder, fewer than two genres...)."""


def scan_dataset(root: str | os.PathLike, min_duration: float = 3.0,
                 check_audio: bool = True) -> pd.DataFrame:
    """List every file under ``root`` as one manifest row.

    Args:
        root: dataset folder (``<root>/<genre>/[<subgenre>/]<file>``; a single ``genres/``
            or ``genres_original/`` folder inside it, as GTZAN ships, is entered).
        min_duration: shortest usable track, in seconds; shorter ones are skipped.
        check_audio: decode every file once to catch truncated, corrupt or silent audio
            (a few ms per WAV); ``False`` trusts the headers.

    Returns:
        DataFrame with :data:`MANIFEST_COLUMNS`, sorted by ``track_id``. ``status`` is
        ``"ok"`` or ``"skipped"`` and ``reason`` says why a file was skipped.
        ``manifest.attrs`` holds ``root``, ``is_gtzan`` and ``empty_genres``.

    Raises:
        DatasetError: the folder is missing, or fewer than two genres have usable audio.
    """
    root = _dataset_root(_given_path(root))
    genre_dirs, looped = _genre_dirs(root)
    metadata = _read_metadata(root)
    rows = [_manifest_row(root, genre_dir.name, path, min_duration, check_audio, metadata)
            for genre_dir in genre_dirs for path in _genre_files(root, genre_dir)]
    _dedupe_track_ids(rows)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    is_gtzan = _looks_like_gtzan(manifest)
    if is_gtzan:
        _apply_gtzan_knowledge(manifest)
    manifest = manifest.sort_values("track_id", kind="stable").reset_index(drop=True)
    ok_genres = sorted(manifest.loc[manifest.status == "ok", "genre"].unique())
    if len(ok_genres) < 2:
        raise DatasetError(
            f"{root}: found usable audio in {len(ok_genres)} genre folder(s) {ok_genres}; "
            "a dataset needs at least two, laid out as <root>/<genre>/<audio files>")
    manifest.attrs.update(root=str(root), is_gtzan=is_gtzan,
                          empty_genres=[d.name for d in genre_dirs if d.name not in ok_genres],
                          ignored_folders=[d.name for d in looped])
    return manifest


def manifest_from_files(files, labels, min_duration: float = 3.0, check_audio: bool = True) -> pd.DataFrame:
    """A manifest like :func:`scan_dataset`'s for a list of files and their genres (the
    seed API's input), so lists of files get the same checks, GTZAN knowledge and
    leakage-safe splits as folders.

    Track ids are ``<genre>/<file stem>`` (a repeated stem gets ``~2``, ``~3``...); artists
    are known for GTZAN's own file names, else unknown.

    Raises:
        ValueError: ``files`` and ``labels`` differ in length.
    """
    files, labels = [Path(f).expanduser() for f in files], [str(g) for g in labels]
    if len(files) != len(labels):
        raise ValueError(f"{len(files)} audio files but {len(labels)} labels")
    rows, seen = [], {}
    for path, genre in zip(files, labels):
        row = _manifest_row(path.parent, genre, path, min_duration, check_audio, {})
        base = f"{genre}/{path.stem}"
        seen[base] = seen.get(base, 0) + 1
        row["track_id"] = base if seen[base] == 1 else f"{base}~{seen[base]}"
        rows.append(row)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    is_gtzan = _looks_like_gtzan(manifest)
    if is_gtzan:
        _apply_gtzan_knowledge(manifest)
    manifest.attrs.update(root="", is_gtzan=is_gtzan, empty_genres=[])
    return manifest


def usable_tracks(manifest: pd.DataFrame) -> pd.DataFrame:
    """The rows whose audio can be used (``status == "ok"``)."""
    return manifest[manifest.status == "ok"].reset_index(drop=True)


def skipped_report(manifest: pd.DataFrame) -> list[str]:
    """One line per skipped file and per empty genre folder, for notebooks and logs."""
    lines = [f"skipped {row.path}: {row.reason}"
             for row in manifest[manifest.status != "ok"].itertuples()]
    lines += [f"genre folder {g!r} has no usable audio" for g in manifest.attrs.get("empty_genres", [])]
    lines += [f"folder {g!r} links back into the dataset; ignored" for g in manifest.attrs.get("ignored_folders", [])]
    return lines


def dataset_listing(root: str | os.PathLike) -> dict[str, list[int]]:
    """Every file a scan of ``root`` looks at: relative path -> ``[size (bytes), mtime (ns)]``.

    Costs one ``stat`` per file (no decoding), so a run can tell cheaply whether its
    stored manifest still describes the folder (files added, removed or modified).
    """
    root = _dataset_root(_given_path(root))
    listing = {}
    for genre_dir in _genre_dirs(root)[0]:
        for path in _genre_files(root, genre_dir):
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and stat: a later scan reports it
            listing[path.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
    listing[METADATA_FILE] = _stat_or_none(root / METADATA_FILE)
    return listing


def _stat_or_none(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _given_path(root) -> Path:
    if not str(root).strip():
        raise DatasetError("no dataset folder given (an empty path would scan the current folder)")
    return Path(root).expanduser()


def _genre_dirs(root: Path) -> tuple[list[Path], list[Path]]:
    """``(genre folders, folders linking back into the dataset)``, sorted; hidden ones left out."""
    genre_dirs, looped = [], []
    for d in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        (looped if _links_back(d, root) else genre_dirs).append(d)
    return genre_dirs, looped


def _genre_files(root: Path, genre_dir: Path) -> list[Path]:
    """Files under one genre folder, sorted, hidden ones (.DS_Store, swap files) left out."""
    return [p for p in sorted(genre_dir.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)]


def _links_back(folder: Path, root: Path) -> bool:
    """True for a (symlinked) folder that is the dataset root or one of its parents: scanning
    it would make the whole dataset a genre, or loop."""
    target, root = folder.resolve(), root.resolve()
    return target == root or target in root.parents


def _dedupe_track_ids(rows: list[dict]) -> None:
    """Make track ids unique in place: where several files share one (``song.wav`` and
    ``song.mp3``), the first usable one in :data:`AUDIO_EXTENSIONS` order keeps it; the
    others are skipped with a reason and keep their extension in their id."""
    by_id: dict[str, list[dict]] = {}
    for row in rows:
        by_id.setdefault(row["track_id"], []).append(row)
    for group in by_id.values():
        if len(group) < 2:
            continue
        rank = {ext: i for i, ext in enumerate(AUDIO_EXTENSIONS)}
        group.sort(key=lambda r: (r["status"] != "ok", rank.get(Path(r["path"]).suffix.lower(), len(rank))))
        kept = group[0]
        for row in group[1:]:
            row["track_id"] = f"{row['track_id']}{Path(row['path']).suffix}"
            if row["status"] == "ok":
                row.update(status="skipped", reason=f"same track id as {Path(kept['path']).name} (kept)")


def _dataset_root(root: Path) -> Path:
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    children = [d for d in root.iterdir() if not d.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir() and children[0].name in ("genres", "genres_original"):
        return children[0]
    return root


def _manifest_row(root: Path, genre: str, path: Path, min_duration: float,
                  check_audio: bool, metadata: dict) -> dict:
    rel = path.relative_to(root)
    subgenre = rel.parts[1] if len(rel.parts) > 2 else ""
    artist, given_split = metadata.get(rel.as_posix(), ("", ""))
    row = dict(track_id=rel.with_suffix("").as_posix(), path=str(path), genre=genre,
               subgenre=subgenre, artist=artist, duration=np.nan,
               sample_rate=0, channels=0, status="skipped", reason="", given_split=given_split)
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        row["reason"] = f"not an audio file ({path.suffix or 'no extension'})"
        return row
    try:
        info = audio_info(path)
        row.update(duration=info["duration"], sample_rate=info["sample_rate"], channels=info["channels"])
        if check_audio:
            row["duration"] = _check_decodes(path, info)
    except AudioDecodeError as exc:
        row["reason"] = str(exc)
        return row
    if row["duration"] < min_duration:
        row["reason"] = f"too short ({row['duration']:.2f} s < {min_duration:g} s)"
        return row
    row.update(status="ok")
    return row


def _check_decodes(path: Path, info: dict) -> float:
    """Decode the whole file once, block by block (bounded memory), at its own rate;
    return its real duration (s). Raises on corrupt, non-finite, absurd or signal-less
    audio (:meth:`muzo_lib.io.audio.SignalStats.problem`)."""
    stats = SignalStats(info["sample_rate"])
    for block in decode_blocks(path):
        stats.update(block)
    if stats.n == 0:
        raise AudioDecodeError("no audio frames in file")
    problem = stats.problem(min_seconds=0.0)  # the caller applies its own min_duration
    if problem:
        raise AudioDecodeError(f"{problem} (peak below -80 dBFS once DC is removed)")
    return stats.seconds


def _read_metadata(root: Path) -> dict[str, tuple[str, str]]:
    """``metadata.csv``: relative path -> ``(artist, given split)``; ``{}`` without the file or its
    ``path`` and ``artist`` columns. A split value other than :data:`SPLIT_ALIASES` is a one-line
    :class:`DatasetError` (a typo must not silently move a track to another side)."""
    meta = root / METADATA_FILE
    if not meta.is_file():
        return {}
    table = pd.read_csv(meta, dtype=str, keep_default_na=False)
    if not {"path", "artist"} <= set(table.columns):
        return {}
    splits = table["split"].str.strip().str.lower() if "split" in table.columns else pd.Series("", index=table.index)
    bad = splits[~splits.isin(SPLIT_ALIASES.keys())]
    if len(bad):
        raise DatasetError(f"{meta}: split {table['split'][bad.index[0]]!r} for {table['path'][bad.index[0]]} "
                           f"({len(bad)} such row(s)); use train, valid or test (or leave it empty)")
    return dict(zip(table["path"], zip(table["artist"], splits.map(SPLIT_ALIASES))))


# ---------------------------------------------------------------- GTZAN

def _looks_like_gtzan(manifest: pd.DataFrame) -> bool:
    if manifest.empty:
        return False
    names = manifest.track_id.map(lambda t: t.rsplit("/", 1)[-1])
    match = names.map(lambda n: _GTZAN_NAME.match(n))
    return bool(match.map(bool).all()
                and all(m["genre"] == g for m, g in zip(match, manifest.genre))
                and set(manifest.genre) <= set(GTZAN_GENRES))


def _apply_gtzan_knowledge(manifest: pd.DataFrame) -> None:
    names = manifest.track_id.map(lambda t: t.rsplit("/", 1)[-1])
    groups = gtzan_artist_groups()
    manifest["artist"] = [a or (f"gtzan-artist-{groups[n]}" if n in groups else "")
                          for a, n in zip(manifest.artist, names)]
    for i, name in names.items():
        if name in GTZAN_CORRUPT and manifest.at[i, "status"] == "ok":
            manifest.at[i, "status"] = "skipped"
            manifest.at[i, "reason"] = GTZAN_CORRUPT[name]


def _resource(name: str) -> str:
    return (resources.files("muzo_lib") / "resources" / "gtzan" / name).read_text()


def gtzan_artist_groups() -> dict[str, str]:
    """GTZAN track name (``blues.00000``) -> artist group id (Foleis & Tavares, 2020)."""
    lines = _resource("artist_groups.tsv").splitlines()[1:]
    return dict(line.split("\t") for line in lines if line)


def gtzan_fault_filtered_split() -> dict[str, str]:
    """GTZAN track name -> ``"train"|"valid"|"test"`` in the fault-filtered, artist-disjoint
    split of Kereliuk, Sturm & Larsen (2015): 443 / 197 / 290 tracks; faulty tracks absent."""
    split = {}
    for part in ("train", "valid", "test"):
        for line in _resource(f"{part}_filtered.txt").split():
            split[Path(line).stem] = part
    return split


# ---------------------------------------------------------------- teaching helpers

def layout_tree(root: str | os.PathLike, files_per_folder: int = 2, max_folders: int = 8) -> str:
    """A short text picture of a dataset folder (a few files per folder), for notebooks."""
    root = _dataset_root(Path(root))
    lines, folders = [f"{root.name}/"], 0
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and not p.name.startswith(".")):
        if folders == max_folders:
            lines.append("  ...")
            break
        folders += 1
        depth = len(folder.relative_to(root).parts)
        files = sorted(f.name for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
        lines.append("  " * depth + f"{folder.name}/")
        lines += ["  " * (depth + 1) + name for name in files[:files_per_folder]]
        if len(files) > files_per_folder:
            lines.append("  " * (depth + 1) + f"... ({len(files)} files)")
    return "\n".join(lines)
