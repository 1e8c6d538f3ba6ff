"""Cross-validation folds: every track tested once, artists kept together where they can be."""
import pandas as pd
import pytest

from muzo_lib.data.splits import grouped_folds, make_split


def _tracks(artists_per_genre: int, per_artist: int = 3) -> pd.DataFrame:
    rows = [dict(track_id=f"{g}/{a}-{i}", genre=g, artist=f"{g}-artist{a}")
            for g in ("jazz", "pop", "rock") for a in range(artists_per_genre) for i in range(per_artist)]
    return pd.DataFrame(rows)


def test_every_track_is_tested_exactly_once_and_artists_stay_together():
    tracks = _tracks(artists_per_genre=4)
    folds, info = grouped_folds(tracks, k=4, seed=0)
    assert sorted(folds.track_id) == sorted(tracks.track_id) and set(folds.fold) == {0, 1, 2, 3}
    assert (folds.groupby("artist").fold.nunique() == 1).all()
    assert info.strategy == "4-fold by artist"
    assert folds.fold.tolist() == grouped_folds(tracks, k=4, seed=0)[0].fold.tolist()  # repeatable


def test_single_artist_genres_fall_back_to_tracks_and_say_so():
    tracks = _tracks(artists_per_genre=1, per_artist=6)
    folds, info = grouped_folds(tracks, k=3, seed=0)
    assert folds.groupby("genre").fold.nunique().min() == 3       # each genre still trains in every fold
    assert info.strategy == "3-fold by track"
    assert "leak" in info.note and all(genre in info.note for genre in ("jazz", "pop", "rock"))  # says which, and why
    with pytest.raises(ValueError, match="k="):
        grouped_folds(tracks, k=1)


def test_split_sizes_are_checked_before_splitting():
    manifest = _tracks(artists_per_genre=4).assign(status="ok", reason="")
    with pytest.raises(ValueError, match="valid_size"):
        make_split(manifest, valid_size=0.9, test_size=0.9)
    split, _ = make_split(manifest, valid_size=0.25, test_size=0.0, strategy="artist")
    assert set(split.split) == {"train", "valid"}


def test_the_default_generated_dataset_splits_into_48_test_tracks_with_every_subgenre_on_every_side():
    """Issue 9's protocol, from the generator's default layout (no audio rendered)."""
    import inspect

    from muzo_lib.data.synth import dataset as synth_files
    defaults = {k: v.default for k, v in inspect.signature(synth_files.generate_dataset).parameters.items()
                if k in ("tracks_per_subgenre", "duration", "sample_rate", "seed", "genres", "artists_per_subgenre")}
    rows = synth_files._track_list(synth_files._dataset_params(**defaults))
    manifest = pd.DataFrame(rows).assign(track_id=lambda t: t.path, status="ok", reason="")
    split, info = make_split(manifest, seed=0)
    sides = split.merge(manifest[["track_id", "subgenre"]], on="track_id")
    assert info.strategy == "artist" and "stratified by subgenre" in info.note
    assert (sides.groupby("artist").split.nunique() == 1).all()                      # no artist on two sides
    assert (sides.split == "test").sum() >= 48
    for side in ("train", "valid", "test"):
        on_side = sides[sides.split == side]
        assert on_side.groupby(["genre", "subgenre"]).ngroups == 12, side             # every subgenre
        if side != "train":
            assert on_side.groupby("genre").artist.nunique().min() >= 2, side        # two artists per genre


def test_genre_only_datasets_stay_stratified_by_genre():
    manifest = _tracks(artists_per_genre=4).assign(status="ok", reason="", subgenre="")
    split, info = make_split(manifest, seed=0)
    assert "stratified by genre" in info.note
    assert (split.groupby("genre").split.nunique() == 3).all()
