"""Leakage-safe train/valid/test splits: the one split module every trainer uses.

Splits are per track (the segments of one track never land on two sides) and, where
artists are known, grouped by artist (no artist on two sides): random splits of genre
datasets put one artist's tracks on both sides and report optimistic scores. GTZAN gets
its fault-filtered, artist-disjoint split (Kereliuk, Sturm & Larsen 2015); a dataset whose
``metadata.csv`` gives every track a side (FMA's own split, written by ``muzo data fma-*``)
gets that split.

:func:`random_track_split` and :func:`leakage_report` exist to *show* the leak
(notebooks 00 and 02); no trainer uses them.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from muzo_lib.data.datasets import gtzan_fault_filtered_split, usable_tracks


@dataclass(frozen=True)
class SplitInfo:
    """How a split was made, for the notebooks to state honestly."""
    strategy: str
    note: str


def make_split(manifest: pd.DataFrame, seed: int = 0, valid_size: float = 0.15,
               test_size: float = 0.15, strategy: str = "auto") -> tuple[pd.DataFrame, SplitInfo]:
    """Assign every usable track to ``train``/``valid``/``test``.

    Splits are per track, so the segments of one track never land in two splits.

    Args:
        manifest: from :func:`scan_dataset`.
        seed: makes the split repeatable.
        valid_size, test_size: fractions of the tracks (approximate when grouping).
        strategy: ``"gtzan"`` (the fault-filtered split; faulty tracks dropped),
            ``"given"`` (the dataset's own split from ``metadata.csv``'s ``split`` column, e.g.
            FMA's; tracks without one dropped), ``"artist"`` (stratified by genre, grouped by
            artist: no artist on two sides), ``"track"`` (stratified by genre only), or
            ``"auto"``: ``gtzan`` for a full GTZAN, ``given`` where every track has a side,
            ``artist`` where every genre has at least 3 artists, else ``track``.

    Returns:
        ``(split, info)``: ``split`` has columns ``track_id, genre, artist, split``;
        ``info`` names the strategy and warns where artists may leak.
    """
    if not (0 <= valid_size < 1 and 0 <= test_size < 1 and valid_size + test_size < 1):
        raise ValueError(f"valid_size ({valid_size}) and test_size ({test_size}) must be fractions in [0, 1) "
                         "that leave tracks for training (valid_size + test_size < 1)")
    usable = usable_tracks(manifest)
    tracks = usable[["track_id", "genre", "artist"]].copy()
    if strategy == "auto":
        strategy = _auto_strategy(manifest, tracks)
    if strategy == "gtzan":
        official = gtzan_fault_filtered_split()
        names = tracks.track_id.map(lambda t: t.rsplit("/", 1)[-1])
        tracks["split"] = names.map(official)
        dropped = int(tracks.split.isna().sum())
        tracks = tracks.dropna(subset=["split"]).reset_index(drop=True)
        info = SplitInfo("gtzan", "GTZAN fault-filtered, artist-disjoint split (Kereliuk et al. 2015); "
                                  f"{dropped} track(s) on the fault list left out")
    elif strategy == "given":
        tracks["split"] = _given_split(usable).to_numpy()
        dropped = int((tracks.split == "").sum())
        tracks = tracks[tracks.split != ""].reset_index(drop=True)
        if tracks.empty:
            raise ValueError("split strategy 'given' needs a split column in the dataset's metadata.csv "
                             "(train, valid or test per track); none is given")
        known = tracks[tracks.artist != ""]
        crossing = int((known.groupby("artist").split.nunique() > 1).sum())
        info = SplitInfo("given", "the dataset's own split (metadata.csv, e.g. FMA's training/validation/test); "
                         + (f"{crossing} artist(s) on two sides" if crossing else "no artist on two sides")
                         + (f"; {dropped} track(s) without a side left out" if dropped else ""))
    elif strategy in ("artist", "track"):
        groups = tracks.artist.where(tracks.artist != "", tracks.track_id) if strategy == "artist" else tracks.track_id
        tracks["split"] = _grouped_stratified_split(_strata(usable), groups.to_numpy(), seed, valid_size, test_size)
        level = "subgenre" if (usable.get("subgenre", pd.Series(dtype=str)).fillna("") != "").any() else "genre"
        info = (SplitInfo("artist", f"stratified by {level}, grouped by artist: no artist on two sides")
                if strategy == "artist" else
                SplitInfo("track", f"stratified by {level}, per track; artists are unknown or too few "
                                   "per genre, so artists may leak across sides (optimistic scores)"))
    else:
        raise ValueError(f"unknown split strategy {strategy!r}; use auto, gtzan, given, artist or track")
    return tracks, info


def _auto_strategy(manifest: pd.DataFrame, tracks: pd.DataFrame) -> str:
    if manifest.attrs.get("is_gtzan"):
        official = gtzan_fault_filtered_split()
        names = set(tracks.track_id.map(lambda t: t.rsplit("/", 1)[-1]))
        if len(names & official.keys()) >= 0.9 * len(official):
            return "gtzan"
    given = _given_split(usable_tracks(manifest))
    if len(given) and (given != "").all():
        return "given"
    known = tracks[tracks.artist != ""]
    if len(known) == len(tracks) and known.groupby("genre").artist.nunique().min() >= 3:
        return "artist"
    return "track"


def _given_split(usable: pd.DataFrame) -> pd.Series:
    """Each track's side from its dataset's ``metadata.csv`` ("" where none is given; manifests
    made before the column existed give none)."""
    if "given_split" not in usable.columns:
        return pd.Series("", index=usable.index, dtype=object)
    return usable["given_split"].fillna("").astype(str)


def _strata(tracks: pd.DataFrame) -> np.ndarray:
    """The label a split balances: ``genre/subgenre`` where the track has a subgenre, else
    the genre, so every subgenre with enough artists reaches every side of the split."""
    subgenre = tracks["subgenre"].fillna("") if "subgenre" in tracks else pd.Series("", index=tracks.index)
    genre = tracks["genre"].astype(str)
    return np.where(subgenre != "", genre + "/" + subgenre, genre).astype(object)


def _grouped_stratified_split(labels, groups, seed, valid_size, test_size) -> np.ndarray:
    """Greedy stratified group split: per stratum (genre or genre/subgenre), whole groups
    go to the side that is furthest below its target share. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    targets = {"test": test_size, "valid": valid_size, "train": 1.0 - valid_size - test_size}
    for genre in sorted(set(labels)):
        idx = np.flatnonzero(labels == genre)
        genre_groups = sorted(set(groups[idx]))
        rng.shuffle(genre_groups)
        sizes = {g: int((groups[idx] == g).sum()) for g in genre_groups}
        filled = dict.fromkeys(targets, 0)
        total = len(idx)
        # the small sides first get one group each (when there are enough groups)
        order = [side for side in ("test", "valid") if targets[side] > 0]
        order = order if len(genre_groups) > len(order) else []
        for g in genre_groups:
            if order:
                side = order.pop(0)
            else:
                side = min(targets, key=lambda s: (filled[s] + sizes[g]) / total - targets[s]
                           if targets[s] > 0 else np.inf)
            filled[side] += sizes[g]
            out[idx[groups[idx] == g]] = side
    return out.astype(str)


def random_track_split(table: pd.DataFrame, like: pd.Series, seed: int = 0) -> pd.Series:
    """A leaky split for comparison: the same train/valid/test sizes per genre as
    ``like`` (the run's split), but tracks drawn at random, ignoring artists."""
    rng = np.random.default_rng(seed)
    out = pd.Series(index=table.index, dtype=object)
    for genre, rows in table.groupby("genre").groups.items():
        sides = like.loc[rows].to_numpy().copy()
        rng.shuffle(sides)
        out.loc[rows] = sides
    return out


def leakage_report(tracks: pd.DataFrame, segments_per_track: int = 10, test_size: float = 0.15,
                   seed: int = 0) -> dict:
    """What naive random splits would leak, next to the split actually used.

    Args:
        tracks: usable tracks with ``track_id``, ``artist`` and ``split`` columns.
        segments_per_track: segments cut from each track (e.g. 10 x 3 s from 30 s).

    Returns:
        dict of percentages: ``random_segments_track_leak`` (test segments whose track
        also has segments in train under a random per-segment split),
        ``random_tracks_artist_leak`` (test tracks whose artist is also in train under a
        random per-track split) and ``our_artist_leak`` (the same for our split).
    """
    rng = np.random.default_rng(seed)
    n_tracks = len(tracks)
    seg_track = np.repeat(np.arange(n_tracks), segments_per_track)
    seg_test = rng.random(len(seg_track)) < test_size
    train_tracks = set(seg_track[~seg_test])
    seg_leak = np.mean([t in train_tracks for t in seg_track[seg_test]]) if seg_test.any() else 0.0

    artists = tracks.artist.where(tracks.artist != "", tracks.track_id).to_numpy()

    def artist_leak(is_test: np.ndarray) -> float:
        train_artists = set(artists[~is_test])
        return float(np.mean([a in train_artists for a in artists[is_test]])) if is_test.any() else 0.0

    random_test = rng.permutation(n_tracks) < round(test_size * n_tracks)
    ours_test = (tracks.split == "test").to_numpy()
    return {"random_segments_track_leak": 100 * float(seg_leak),
            "random_tracks_artist_leak": 100 * artist_leak(random_test),
            "our_artist_leak": 100 * artist_leak(ours_test)}


def grouped_folds(manifest_or_tracks: pd.DataFrame, k: int = 5, seed: int = 0,
                  group_by: str = "auto") -> tuple[pd.DataFrame, SplitInfo]:
    """Grouped, genre-stratified k-fold cross-validation: every track lands in exactly one
    test fold, so every track is predicted once by a model that never saw it (nor, when
    grouping by artist, its artist). The protocol for small real datasets.

    Args:
        manifest_or_tracks: a manifest (its usable rows are used) or a run's ``tracks``.
        k: folds (at least 2).
        seed: makes the folds repeatable.
        group_by: ``"artist"``, ``"track"`` or ``"auto"``: by artist when every genre has at
            least two known artists (so each fold still trains on every genre), else by track,
            and the returned note says that artists may then leak.

    Returns:
        ``(folds, info)``: ``folds`` has ``track_id``, ``genre``, ``artist`` and ``fold``
        (0..k-1) columns.

    Raises:
        ValueError: ``k`` below 2 or above the number of tracks.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    tracks = manifest_or_tracks
    if "status" in tracks.columns:
        tracks = usable_tracks(tracks)
    tracks = tracks[["track_id", "genre", "artist"]].reset_index(drop=True).copy()
    if not 2 <= k <= len(tracks):
        raise ValueError(f"cross-validation needs 2 <= k <= {len(tracks)} tracks, got k={k}")
    known = tracks[tracks.artist != ""]
    artists_ok = len(known) == len(tracks) and known.groupby("genre").artist.nunique().min() >= 2
    if group_by == "auto":
        group_by = "artist" if artists_ok else "track"
    if group_by not in ("artist", "track"):
        raise ValueError(f"group_by must be 'artist', 'track' or 'auto', got {group_by!r}")
    groups = tracks.artist.where(tracks.artist != "", tracks.track_id) if group_by == "artist" else tracks.track_id
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    tracks["fold"] = -1
    with warnings.catch_warnings():  # "the least populated class has only n members": said in the note instead
        warnings.simplefilter("ignore", UserWarning)
        for fold, (_, test) in enumerate(splitter.split(tracks, tracks.genre, groups)):
            tracks.loc[test, "fold"] = fold
    if group_by == "artist":
        note = f"{k}-fold cross-validation, stratified by genre, grouped by artist: no artist on two sides"
    else:
        single = sorted(g for g, n in known.groupby("genre").artist.nunique().items() if n < 2)
        why = (f"{len(single)} genre(s) hold a single known artist ({', '.join(single[:4])}"
               f"{', ...' if len(single) > 4 else ''})" if single else "artists are unknown")
        note = (f"{k}-fold cross-validation, stratified by genre, grouped by track: {why}, so artists "
                "may leak across folds (optimistic scores)")
    return tracks, SplitInfo(f"{k}-fold by {group_by}", note)
