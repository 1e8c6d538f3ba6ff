"""FMA's metadata as Muzo's labels: each track's top genre, one subgenre, its artist and FMA's split.

``tracks.csv`` (three header rows: a column group, a column name, then ``track_id``; read as
FMA's own ``utils.load`` does, with a two-level header) gives per track ``('track',
'genre_top')``, ``('track', 'genres')`` (the genre ids the artist chose, e.g. ``"[21, 811]"``),
``('set', 'split')`` (training / validation / test), ``('set', 'subset')`` and ``('artist',
'id')``. ``genres.csv`` gives ``genre_id, #tracks, parent, title, top_level``: a tree whose
roots (``parent == 0``) are the top genres.

The subgenre rule (:func:`subgenre_of`): a track's subgenre is the *child of its top genre*
on the way to one of its own ``genres``, so the subgenres of a genre are exactly its children
in FMA's tree and every class gathers the deeper genres below it (a grandchild's tracks go to
the child it hangs from): two clean levels, and more tracks per class than the deepest genre
would leave. Where the track's genres lead to several children,
the one with the most tracks in ``genres.csv`` wins, then the lowest id. A track whose genres
name only the top genre itself gets the top genre's own name as subgenre (``Rock/Rock/``):
"rock, nothing more specific", so every genre folder holds subgenre folders only. Tracks
without a top genre (FMA leaves it empty when a track's genres have several roots) are
skipped and reported, as are the FMA-small tracks known to hold no audio.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

#: FMA tracks whose mp3 holds no audio at all (erroneous metadata): mdeff/fma issues #41 and #44
#: ("Those 3 files have no audio at all"), in fma_small and so in fma_medium too.
KNOWN_AUDIOLESS = {99134: "known FMA file without audio (mdeff/fma#41)",
                   108925: "known FMA file without audio (mdeff/fma#41)",
                   133297: "known FMA file without audio (mdeff/fma#41)"}
SPLIT_NAMES = {"training": "train", "validation": "valid", "test": "test"}
_TRACK_COLUMNS = [("track", "genre_top"), ("track", "genres"), ("set", "split"), ("set", "subset"), ("artist", "id")]
_GENRE_COLUMNS = ["genre_id", "#tracks", "parent", "title", "top_level"]


class MetadataError(ValueError):
    """FMA's metadata files are missing or not in FMA's format."""


def metadata_files(folder: str | os.PathLike) -> tuple[Path, Path]:
    """``(tracks.csv, genres.csv)`` in ``folder`` or its ``fma_metadata/`` (as the zip unpacks)."""
    folder = Path(folder)
    for base in (folder, folder / "fma_metadata"):
        if (base / "tracks.csv").is_file() and (base / "genres.csv").is_file():
            return base / "tracks.csv", base / "genres.csv"
    raise MetadataError(f"no tracks.csv and genres.csv in {folder}: run `muzo data fma-metadata` first, or give "
                        "--metadata DIR")


def read_genres(path: str | os.PathLike) -> pd.DataFrame:
    """``genres.csv`` indexed by ``genre_id`` with ``tracks, parent, title, top_level`` (ints but title)."""
    table = pd.read_csv(path)
    missing = [c for c in _GENRE_COLUMNS if c not in table.columns]
    if missing:
        raise MetadataError(f"{path}: not FMA's genres.csv (no column {missing[0]!r})")
    table = table.rename(columns={"#tracks": "tracks"}).set_index("genre_id")
    table[["tracks", "parent", "top_level"]] = table[["tracks", "parent", "top_level"]].fillna(0).astype(int)
    table["title"] = table["title"].astype(str)
    return table


def read_tracks(path: str | os.PathLike) -> pd.DataFrame:
    """``tracks.csv`` reduced to ``genre_top, genres (list of ids), split, subset, artist_id``,
    indexed by the integer track id."""
    try:
        raw = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise MetadataError(f"{path}: not FMA's tracks.csv ({str(exc).splitlines()[0]})") from None
    missing = [c for c in _TRACK_COLUMNS if c not in raw.columns]
    if missing:
        raise MetadataError(f"{path}: not FMA's tracks.csv (no column {missing[0]!r}; expected its 3-row header)")
    ids = pd.to_numeric(pd.Series(raw.index), errors="coerce")
    raw = raw[ids.notna().to_numpy()]  # a stray row without a numeric id is no track
    out = pd.DataFrame(index=pd.Index(ids.dropna().astype(int).to_numpy(), name="track_id"))
    out["genre_top"] = raw[("track", "genre_top")].fillna("").astype(str).to_numpy()
    out["genres"] = [[int(g) for g in re.findall(r"\d+", str(v))] for v in raw[("track", "genres")].fillna("")]
    out["split"] = raw[("set", "split")].fillna("").astype(str).to_numpy()
    out["subset"] = raw[("set", "subset")].fillna("").astype(str).to_numpy()
    out["artist_id"] = raw[("artist", "id")].fillna("").astype(str).str.removesuffix(".0").to_numpy()
    return out


def subgenre_of(track_genres: list[int], top_id: int, genres: pd.DataFrame) -> int | None:
    """The subgenre id of a track (the module docstring's rule), or ``None`` when its genres name
    no genre below ``top_id``."""
    children = set()
    for g in track_genres:
        child = _child_of_root(g, top_id, genres)
        if child is not None:
            children.add(child)
    if not children:
        return None
    return min(children, key=lambda g: (-int(genres.at[g, "tracks"]), g))


def _child_of_root(genre_id: int, root: int, genres: pd.DataFrame) -> int | None:
    """The ancestor of ``genre_id`` whose parent is ``root`` (itself if it is one), else None."""
    seen = set()
    g = genre_id
    while g in genres.index and g not in seen:
        seen.add(g)
        parent = int(genres.at[g, "parent"])
        if parent == root:
            return g
        if parent == 0:
            return None
        g = parent
    return None


def folder_names(genres: pd.DataFrame) -> dict[int, str]:
    """genre id -> a folder name made from its title (``/``, ``\\`` and ``:`` become `` - ``;
    no leading dot); siblings that would share a name get `` (id)`` appended."""
    names = {}
    for gid, title in genres.title.items():
        name = re.sub(r"\s*[/\\:]\s*", " - ", title).strip().lstrip(".")
        names[gid] = re.sub(r"[\x00-\x1f]", "", name) or f"genre-{gid}"
    by_parent = {}
    for gid, parent in genres.parent.items():
        by_parent.setdefault((int(parent), names[gid].lower()), []).append(gid)
    for ids in by_parent.values():
        if len(ids) > 1:
            for gid in ids:
                names[gid] = f"{names[gid]} ({gid})"
    return names


def label_tracks(tracks: pd.DataFrame, genres: pd.DataFrame) -> pd.DataFrame:
    """Per track: ``genre`` and ``subgenre`` folder names, ``split`` (train/valid/test or ""),
    ``artist`` (``fma-artist-<id>``) and ``reason`` ("" for a usable track, else why it is skipped)."""
    names = folder_names(genres)
    roots = {title: gid for gid, title in genres.loc[genres.parent == 0, "title"].items()}
    rows = []
    for tid, t in tracks.iterrows():
        row = dict(track_id=tid, genre="", subgenre="", split=SPLIT_NAMES.get(t.split, ""),
                   artist=f"fma-artist-{t.artist_id}" if t.artist_id else "", reason="")
        if tid in KNOWN_AUDIOLESS:
            row["reason"] = KNOWN_AUDIOLESS[tid]
        elif not t.genre_top:
            row["reason"] = "no top genre in tracks.csv (its genres have several roots, or none)"
        elif t.genre_top not in roots:
            row["reason"] = f"top genre {t.genre_top!r} is not a root of genres.csv"
        else:
            top = roots[t.genre_top]
            sub = subgenre_of(t.genres, top, genres)
            row.update(genre=names[top], subgenre=names[sub] if sub is not None else names[top])
        rows.append(row)
    return pd.DataFrame(rows, columns=["track_id", "genre", "subgenre", "split", "artist", "reason"]).set_index("track_id")
