"""FMA's tracks.csv and genres.csv become one genre and one subgenre per track, by a stated rule."""
import io

import pandas as pd
import pytest

from muzo_lib.data import fma
from tests.data_sources import EXPECTED, GENRES, TRACKS, genres_csv, tracks_csv


@pytest.fixture
def metadata(tmp_path):
    (tmp_path / "tracks.csv").write_text(tracks_csv())
    (tmp_path / "genres.csv").write_text(genres_csv())
    return tmp_path


def test_tracks_csv_with_its_three_header_rows_is_read(metadata):
    assert (metadata / "tracks.csv").read_text().splitlines()[2].startswith("track_id,")   # FMA's third header row
    tracks = fma.read_tracks(metadata / "tracks.csv")
    assert list(tracks.index) == list(TRACKS)
    assert tracks.loc[5, "genres"] == [26, 45] and tracks.loc[5, "split"] == "validation"
    assert tracks.loc[30, "genre_top"] == "" and tracks.loc[3, "artist_id"] == "2"


def test_the_subgenre_rule(metadata):
    labels = fma.label_tracks(fma.read_tracks(metadata / "tracks.csv"), fma.read_genres(metadata / "genres.csv"))
    ok = labels[labels.reason == ""]
    assert {tid: f"{r.genre}/{r.subgenre}" for tid, r in ok.iterrows()} == EXPECTED
    assert dict(ok.split) == {2: "train", 3: "train", 5: "valid", 10: "test", 11: "train", 12: "test", 20: "train"}
    assert labels.loc[3, "artist"] == "fma-artist-2"
    assert "no top genre" in labels.loc[30, "reason"]
    assert labels.loc[99134, "reason"] == "known FMA file without audio (mdeff/fma#41)"


def test_subgenre_of_walks_up_to_the_child_of_the_top_genre():
    genres = fma.read_genres(io.StringIO(genres_csv()))
    assert fma.subgenre_of([26], 12, genres) == 25            # Post-Punk -> Punk
    assert fma.subgenre_of([12], 12, genres) is None           # the top genre alone
    assert fma.subgenre_of([181, 46], 15, genres) == 181       # a genre of another root is ignored
    assert fma.subgenre_of([999], 12, genres) is None          # an id genres.csv does not know


def test_folder_names_are_safe_and_unique_among_siblings():
    rows = GENRES + [(900, 5, 12, "Punk", 12), (901, 5, 12, ".hidden: odd\\name", 12)]
    genres = fma.read_genres(io.StringIO(pd.DataFrame(
        rows, columns=["genre_id", "#tracks", "parent", "title", "top_level"]).to_csv(index=False)))
    names = fma.folder_names(genres)
    assert names[8] == "Old-Time - Historic"
    assert names[25] == "Punk (25)" and names[900] == "Punk (900)"
    assert names[901] == "hidden - odd - name" and names[26] == "Post-Punk"


def test_missing_or_foreign_metadata_is_one_line(tmp_path):
    with pytest.raises(fma.MetadataError, match="run `muzo data fma-metadata` first"):
        fma.metadata_files(tmp_path)
    (tmp_path / "genres.csv").write_text("id,name\n1,x\n")
    with pytest.raises(fma.MetadataError, match="not FMA's genres.csv"):
        fma.read_genres(tmp_path / "genres.csv")
    (tmp_path / "tracks.csv").write_text("a,b\n1,2\n")
    with pytest.raises(fma.MetadataError, match="not FMA's tracks.csv"):
        fma.read_tracks(tmp_path / "tracks.csv")
