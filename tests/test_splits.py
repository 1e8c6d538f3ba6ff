"""Cross-validation folds: every track tested once, artists kept together where they can be."""
import pandas as pd
import pytest

from muzo_lib.splits import grouped_folds, make_split


def _tracks(artists_per_genre: int, per_artist: int = 3) -> pd.DataFrame:
    rows = [dict(track_id=f"{g}/{a}-{i}", genre=g, artist=f"{g}-artist{a}")
            for g in ("jazz", "pop", "rock") for a in range(artists_per_genre) for i in range(per_artist)]
    return pd.DataFrame(rows)


def test_every_track_is_tested_exactly_once_and_artists_stay_together():
    tracks = _tracks(artists_per_genre=4)
    folds, info = grouped_folds(tracks, k=4, seed=0)
    assert sorted(folds.track_id) == sorted(tracks.track_id) and set(folds.fold) == {0, 1, 2, 3}
    assert (folds.groupby("artist").fold.nunique() == 1).all()
    assert "grouped by artist" in info.note
    assert folds.fold.tolist() == grouped_folds(tracks, k=4, seed=0)[0].fold.tolist()  # repeatable


def test_single_artist_genres_fall_back_to_tracks_and_say_so():
    tracks = _tracks(artists_per_genre=1, per_artist=6)
    folds, info = grouped_folds(tracks, k=3, seed=0)
    assert folds.groupby("genre").fold.nunique().min() == 3       # each genre still trains in every fold
    assert "grouped by track" in info.note and "single known artist" in info.note and "leak" in info.note
    with pytest.raises(ValueError, match="k="):
        grouped_folds(tracks, k=1)


def test_split_sizes_are_checked_before_splitting():
    manifest = _tracks(artists_per_genre=4).assign(status="ok", reason="")
    with pytest.raises(ValueError, match="valid_size"):
        make_split(manifest, valid_size=0.9, test_size=0.9)
    split, _ = make_split(manifest, valid_size=0.25, test_size=0.0, strategy="artist")
    assert set(split.split) == {"train", "valid"}
