"""``muzo data NAME``: obtain one dataset and leave it in the layout Muzo reads.

One call: get the archive (download with resume, or the user's own file with ``--from``),
verify it against its publisher's checksum, unpack it safely into a scratch folder next to
the destination, arrange it (GTZAN: ``<genre>/<file>``; FMA: ``<genre>/<subgenre>/<file>``
from FMA's genre tree, with a ``metadata.csv`` of artists and FMA's split), write
:data:`MANIFEST_NAME`, and only then rename the scratch folder onto the destination. Files
are *moved* out of the unpacked archive (no copy, no link: the archive itself is kept, so
nothing is lost and the disk holds each track once more, not twice). An existing non-empty
destination is never written into, and an interrupted call leaves no half dataset behind.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import pandas as pd

from muzo_lib.data import fma
from muzo_lib.data.archives import extract_archive
from muzo_lib.data.datasets import GTZAN_CORRUPT, GTZAN_GENRES, METADATA_FILE
from muzo_lib.data.fetch import FetchError, download, file_digest
from muzo_lib.data.sources import Source, source
from muzo_lib.io.audio import AUDIO_EXTENSIONS
from muzo_lib.io.paths import atomic_write_json, atomic_write_text

#: What was fetched, its checksums, counts and skipped tracks, at the root of every dataset made here.
MANIFEST_NAME = "muzo_data.json"
_FMA_AUDIO = re.compile(r"^(\d{6})\.mp3$", re.IGNORECASE)


def obtain_dataset(name: str, dest: str | os.PathLike | None = None, archive: str | os.PathLike | None = None,
                   url: str | None = None, checksum: str | None = None, allow_unknown_checksum: bool = False,
                   download_dir: str | os.PathLike | None = None, metadata: str | os.PathLike | None = None,
                   retries: int = 3, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Fetch, verify, unpack and lay out dataset ``name`` (``gtzan``, ``fma-metadata``, ``fma-small``,
    ``fma-medium``) in ``dest``.

    Args:
        dest: target folder (default: the source's, e.g. ``data/fma_small``); must be missing or empty.
        archive: a local archive to use instead of downloading (``--from``); never modified.
        url: download from here instead of the publisher (mirrors; tests use a loopback server).
        checksum: ``"ALGO:HEX"`` (or ``HEX`` in the source's algorithm) to expect instead of the
            published one, for a mirror whose archive differs.
        allow_unknown_checksum: go on when the archive matches no known checksum (then recorded
            as unverified in the manifest); without it that is an error.
        download_dir: where downloads go and stay (default: ``downloads/`` next to ``dest``).
        metadata: FMA audio only: folder with ``tracks.csv`` and ``genres.csv`` (default:
            ``data/fma_metadata``, what ``muzo data fma-metadata`` leaves).
        retries: dropped connections resumed within this call.
        log: where the one-line reports go (skipped tracks, summary).

    Returns:
        the manifest written to ``dest/muzo_data.json``.

    Raises:
        FetchError / MetadataError (``ValueError``): one line saying what went wrong and what to do.
    """
    src = source(name)
    if archive is not None and url is not None:
        raise FetchError("give --from ARCHIVE or --url URL, not both")
    dest = Path(dest or src.default_dest).expanduser()
    done = _existing(dest, src)
    if done is not None:
        log(f"{dest} already holds {src.name} ({done.get('tracks', 0)} tracks, fetched {done.get('fetched_utc', '?')}); "
            "nothing to do")
        return done
    labels = None
    if src.layout == "fma-audio":  # before any download: a 7 GB archive is no use without its labels
        tracks_csv, genres_csv = fma.metadata_files(metadata or source("fma-metadata").default_dest)
        genres = fma.read_genres(genres_csv)
        labels = fma.label_tracks(fma.read_tracks(tracks_csv), genres)
    algorithm, expected = _expected(src, checksum)
    path, origin, verified = _archive(src, dest, archive, url, algorithm, expected, allow_unknown_checksum,
                                      download_dir, retries, progress, log)
    manifest = dict(dataset=src.name, source=origin, fetched_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    archive=dict(name=path.name, path=str(path.resolve()), size=path.stat().st_size, algorithm=algorithm,
                                 checksum=verified["got"], expected=expected, checksum_source=verified["source"],
                                 verified=verified["ok"]))
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
    try:
        unpacked, out = scratch / "archive", scratch / "out"
        out.mkdir()
        extract_archive(path, unpacked, progress=progress)
        if src.layout == "gtzan":
            manifest.update(_lay_out_gtzan(unpacked, out))
        elif src.layout == "fma-metadata":
            manifest.update(_lay_out_fma_metadata(unpacked, out))
        else:
            manifest.update(_lay_out_fma_audio(unpacked, out, labels, metadata))
        atomic_write_json(out / MANIFEST_NAME, manifest)
        if dest.is_dir():
            dest.rmdir()  # empty (checked by _existing): replaced by the finished folder
        os.rename(out, dest)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise FetchError(f"disk full while laying out {src.name} in {dest.parent}; free space and run again") from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for item in manifest.get("skipped", []):
        log(f"skipped {item['file']}: {item['reason']}")
    log(_summary(manifest, dest))
    return manifest


def _existing(dest: Path, src: Source) -> dict | None:
    """The manifest of a finished earlier call for the same dataset, None for a missing or empty
    folder; a one-line error for any other non-empty folder (never written into)."""
    if dest.exists() and not dest.is_dir():
        raise FetchError(f"{dest} is a file; give --dest a folder")
    if not dest.is_dir() or not any(dest.iterdir()):
        return None
    try:
        manifest = json.loads((dest / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        manifest = None
    if isinstance(manifest, dict) and manifest.get("dataset") == src.name:
        return manifest
    raise FetchError(f"{dest} exists and is not empty; nothing is written into an existing folder: give another "
                     "--dest, or move it away")


def _expected(src: Source, checksum: str | None) -> tuple[str, str]:
    if not checksum:
        return src.algorithm, src.checksum
    algorithm, _, value = checksum.rpartition(":")
    algorithm = (algorithm or src.algorithm).lower()
    if algorithm not in ("md5", "sha1", "sha256") or not re.fullmatch(r"[0-9a-fA-F]+", value):
        raise FetchError(f"--checksum should be ALGO:HEX with ALGO md5, sha1 or sha256, got {checksum!r}")
    return algorithm, value.lower()


def _archive(src: Source, dest: Path, archive, url, algorithm, expected, allow_unknown, download_dir,
             retries, progress, log) -> tuple[Path, str, dict]:
    """``(archive path, where it came from, {"got", "ok", "source"})`` once verified (or allowed)."""
    known_source = src.checksum_source if expected == src.checksum else "given with --checksum"
    if archive is not None:
        path = Path(archive).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"--from {archive}: no such archive file")
        got = file_digest(path, algorithm, progress)
        if got == expected:
            return path, f"--from {path.resolve()}", dict(got=got, ok=True, source=known_source)
        if not allow_unknown:
            raise FetchError(f"{path.name}: checksum unknown ({algorithm} {got}; the known one is {expected}, from "
                             f"{known_source}): a damaged copy or another packaging; pass --allow-unknown-checksum "
                             "to use it anyway")
        log(f"{path.name}: {algorithm} {got} matches no known checksum; used anyway (--allow-unknown-checksum)")
        return path, f"--from {path.resolve()}", dict(got=got, ok=False, source="unknown")
    url = url or src.url
    if not url:
        raise FetchError(f"{src.name} has no live download (its original link is dead): get {src.filename} "
                         "(data/README.md lists copies) and pass --from ARCHIVE")
    target = Path(download_dir).expanduser() if download_dir else dest.parent / "downloads"
    target = target / (Path(url.split("?")[0]).name or src.filename)
    if target.is_file():  # an earlier download, verified before it got this name, or the user's file
        got = file_digest(target, algorithm, progress)
        if got != expected and not allow_unknown:
            raise FetchError(f"{target} exists but its {algorithm} is {got}, not {expected}; move it away to download "
                             "again, or pass it with --from")
        log(f"using {target}, downloaded before")
    else:
        download(url, target, algorithm, None if allow_unknown else expected, retries=retries, progress=progress)
        got = file_digest(target, algorithm) if allow_unknown else expected
    ok = got == expected
    return target, url, dict(got=got, ok=ok, source=known_source if ok else "unknown")


# ---------------------------------------------------------------- layouts

def _lay_out_gtzan(unpacked: Path, out: Path) -> dict:
    """Move ``<genre>/<file>`` audio from wherever the archive keeps its genre folders
    (``genres/``, Kaggle's ``Data/genres_original/``) into ``out``."""
    root = _genre_root(unpacked)
    counts, skipped = Counter(), []
    for genre_dir in sorted(d for d in root.iterdir() if d.is_dir()):
        for f in sorted(p for p in genre_dir.iterdir() if p.is_file()):
            if f.suffix.lower() not in AUDIO_EXTENSIONS or f.name.startswith("."):
                continue  # Marsyas .mf lists, Kaggle's images and tables: left out, counted below
            (out / genre_dir.name).mkdir(exist_ok=True)
            os.replace(f, out / genre_dir.name / f.name)
            counts[genre_dir.name] += 1
            if f.stem in GTZAN_CORRUPT:
                skipped.append(dict(file=f"{genre_dir.name}/{f.name}", reason=f"{GTZAN_CORRUPT[f.stem]} (left in place; "
                                                                              "the scan skips it)"))
    left_out = sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file())
    missing = sorted(set(GTZAN_GENRES) - set(counts))
    return dict(layout="<genre>/<file>", tracks=sum(counts.values()), counts=dict(sorted(counts.items())),
                missing_genres=missing, skipped=skipped, left_out=len(left_out), left_out_examples=left_out[:10])


def _genre_root(unpacked: Path) -> Path:
    """The shallowest folder holding audio in at least two GTZAN genre folders."""
    for folder in sorted((p for p in [unpacked, *unpacked.rglob("*")] if p.is_dir()),
                         key=lambda p: (len(p.parts), str(p))):
        genres = [d for d in folder.iterdir() if d.is_dir() and d.name in GTZAN_GENRES
                  and any(f.suffix.lower() in AUDIO_EXTENSIONS for f in d.iterdir())]
        if len(genres) >= 2:
            return folder
    raise FetchError("the archive holds no GTZAN genre folders with audio (expected e.g. genres/blues/blues.00000.wav)")


def _lay_out_fma_metadata(unpacked: Path, out: Path) -> dict:
    """Move the archive's files (its one top folder, ``fma_metadata/``, stripped) into ``out``."""
    top = [p for p in unpacked.iterdir() if not p.name.startswith(".")]
    base = top[0] if len(top) == 1 and top[0].is_dir() else unpacked
    for item in base.iterdir():
        os.replace(item, out / item.name)
    tracks_csv, genres_csv = fma.metadata_files(out)
    tracks, genres = fma.read_tracks(tracks_csv), fma.read_genres(genres_csv)
    return dict(layout="FMA metadata files", files=sorted(p.name for p in out.iterdir()), tracks=len(tracks),
                genres=len(genres), top_genres=int((genres.parent == 0).sum()))


def _lay_out_fma_audio(unpacked: Path, out: Path, labels: pd.DataFrame, metadata) -> dict:
    """Move each ``NNN/NNNNNN.mp3`` to ``<genre>/<subgenre>/NNNNNN.mp3`` and write ``metadata.csv``."""
    rows, skipped, left_out = [], [], []
    counts: dict[str, Counter] = {}
    for f in sorted(p for p in unpacked.rglob("*") if p.is_file()):
        match = _FMA_AUDIO.match(f.name)
        if not match:
            left_out.append(f.relative_to(unpacked).as_posix())
            continue
        tid = int(match.group(1))
        if tid not in labels.index:
            skipped.append(dict(file=f.name, reason="not in tracks.csv"))
            continue
        label = labels.loc[tid]
        if label.reason:
            skipped.append(dict(file=f.name, reason=label.reason))
            continue
        folder = out / label.genre / label.subgenre
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(f, folder / f.name)
        rows.append(dict(path=f"{label.genre}/{label.subgenre}/{f.name}", artist=label.artist, split=label.split))
        counts.setdefault(label.genre, Counter())[label.subgenre] += 1
    if not rows:
        raise FetchError("the archive holds no FMA tracks that tracks.csv labels (expected e.g. fma_small/000/000002.mp3)")
    table = pd.DataFrame(rows)
    atomic_write_text(out / METADATA_FILE, table.to_csv(index=False))
    return dict(layout="<genre>/<subgenre>/<file>", metadata=str(Path(metadata or source("fma-metadata").default_dest)),
                tracks=len(rows), counts={g: dict(sorted(c.items())) for g, c in sorted(counts.items())},
                splits={k: int(v) for k, v in table.split.replace("", "none").value_counts().sort_index().items()},
                subgenre_rule="the child of the top genre leading to the track's genres (most tracks, then lowest id); "
                              "none: the top genre's own name",
                skipped=skipped, left_out=len(left_out), left_out_examples=left_out[:10])


def _summary(manifest: dict, dest: Path) -> str:
    archive = manifest["archive"]
    check = (f"{archive['algorithm']} verified against {archive['checksum_source']}" if archive["verified"]
             else f"{archive['algorithm']} {archive['checksum']} unverified")
    what = (f"{manifest['tracks']} tracks in {len(manifest['counts'])} genres" if "counts" in manifest
            else f"{manifest['tracks']} tracks and {manifest['genres']} genres described")
    skipped = f", {len(manifest['skipped'])} skipped" if manifest.get("skipped") else ""
    return f"{manifest['dataset']}: {what}{skipped} in {dest} ({check}; archive kept at {archive['path']})"
