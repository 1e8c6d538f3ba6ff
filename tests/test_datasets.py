import numpy as np
import pandas as pd
import pytest

from muzo_lib.data.datasets import (
    DatasetError,
    gtzan_artist_groups,
    gtzan_fault_filtered_split,
    scan_dataset,
    skipped_report,
    usable_tracks,
)
from muzo_lib.data.splits import make_split
from tests.helpers import tiny_dataset, tone, write


def test_scan_lists_tracks_with_subgenres(tmp_path):
    write(tmp_path / "rock" / "punk" / "a.wav", tone())
    write(tmp_path / "rock" / "grunge" / "b.flac", tone())
    write(tmp_path / "jazz" / "c.wav", tone())
    m = scan_dataset(tmp_path)
    assert list(m.track_id) == ["jazz/c", "rock/grunge/b", "rock/punk/a"]
    assert list(m.subgenre) == ["", "grunge", "punk"]
    assert (m.status == "ok").all() and m.duration.round(2).eq(4.0).all()
    assert not m.attrs["is_gtzan"]


def test_bad_inputs_are_skipped_with_reasons_and_good_ones_used(tmp_path):
    tiny_dataset(tmp_path, genres=("rock", "jazz"), per_genre=2)
    rock = tmp_path / "rock"
    (rock / "zero.wav").write_bytes(b"")
    (rock / "text.wav").write_text("not audio at all " * 20)
    good = write(rock / "full.wav", tone(8.0))
    (rock / "truncated.wav").write_bytes(good.read_bytes()[:30])          # header cut
    (rock / "cut_data.wav").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # data cut
    write(rock / "tiny.wav", tone(0.5))
    write(rock / "silence.wav", np.zeros(22050 * 4, dtype=np.float32))
    write(rock / "deep.wav", tone(4.0), subtype="PCM_24")
    write(rock / "float.wav", tone(4.0), subtype="FLOAT")
    write(rock / "stereo8k.wav", tone(4.0, sr=8000, channels=2), sr=8000)
    (rock / "cover.jpg").write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    (rock / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "empty_genre").mkdir()

    m = scan_dataset(tmp_path).set_index("track_id")
    reasons = m.reason.to_dict()
    assert m.loc["rock/zero", "status"] == "skipped" and "empty" in reasons["rock/zero"]
    assert "not decodable" in reasons["rock/text"]
    assert m.loc["rock/truncated", "status"] == "skipped"
    assert m.loc["rock/cut_data", "status"] == "ok" and m.loc["rock/cut_data", "duration"] == pytest.approx(4.0, abs=0.01)
    assert "too short" in reasons["rock/tiny"]
    assert "silent" in reasons["rock/silence"]
    assert "not an audio file" in reasons["rock/cover"]
    for ok in ("rock/deep", "rock/float", "rock/stereo8k", "rock/full"):
        assert m.loc[ok, "status"] == "ok", ok
    assert m.loc["rock/stereo8k", ["sample_rate", "channels"]].tolist() == [8000, 2]
    assert ".DS_Store" not in " ".join(m.path)
    assert all("\n" not in r for r in reasons.values())
    report = skipped_report(scan_dataset(tmp_path))
    assert any("empty_genre" in line for line in report)
    assert any("zero.wav" in line and "empty" in line for line in report)     # the file, and why


def test_dataset_errors_are_one_clear_line(tmp_path):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        scan_dataset(tmp_path / "missing")
    tiny_dataset(tmp_path, genres=("rock",))
    with pytest.raises(DatasetError, match="needs at least two"):
        scan_dataset(tmp_path)


def test_gtzan_layout_is_recognised(tmp_path):
    for genre in ("blues", "jazz"):
        for i in (0, 1, 54):
            write(tmp_path / "genres" / genre / f"{genre}.{i:05d}.wav", tone(4.0, seed=i))
    m = scan_dataset(tmp_path)
    assert m.attrs["is_gtzan"]
    assert m.set_index("track_id").loc["jazz/jazz.00054", "reason"] == "known corrupt GTZAN file"
    assert m.set_index("track_id").loc["blues/blues.00000", "artist"] == "gtzan-artist-0"


def test_gtzan_resources():
    split = gtzan_fault_filtered_split()
    counts = pd.Series(split).value_counts().to_dict()
    assert counts == {"train": 443, "test": 290, "valid": 197}
    assert split["jazz.00054"] == "train"  # listed, yet it does not decode: the scan skips it
    assert len(gtzan_artist_groups()) == 948


def _artist_dataset(tmp_path, n_genres=3, artists=4, per_artist=3):
    rows = []
    for g in range(n_genres):
        for a in range(artists):
            for k in range(per_artist):
                rel = f"g{g}/a{a}_{k}.wav"
                write(tmp_path / rel, tone(3.5, freq=200 + 50 * g + 5 * a, seed=k))
                rows.append({"path": rel, "artist": f"artist-{g}-{a}"})
    pd.DataFrame(rows).to_csv(tmp_path / "metadata.csv", index=False)
    return scan_dataset(tmp_path)


def test_artist_split_keeps_each_artist_on_one_side(tmp_path):
    m = _artist_dataset(tmp_path)
    split, info = make_split(m, seed=1)
    assert info.strategy == "artist"
    assert split.groupby("artist").split.nunique().max() == 1
    assert set(split.split) == {"train", "valid", "test"}
    for genre, sides in split.groupby("genre").split:
        assert set(sides) == {"train", "valid", "test"}, genre
    again, _ = make_split(m, seed=1)
    assert again.equals(split)
    other, _ = make_split(m, seed=2)
    assert not other.split.equals(split.split)


def test_track_split_is_stratified_and_says_it_may_leak(tmp_path):
    m = scan_dataset(tiny_dataset(tmp_path, per_genre=10))
    split, info = make_split(m, seed=0, valid_size=0.2, test_size=0.2)
    assert info.strategy == "track" and "leak" in info.note
    counts = split.groupby(["genre", "split"]).size().unstack()
    assert (counts["test"] == 2).all() and (counts["valid"] == 2).all() and (counts["train"] == 6).all()
    with pytest.raises(ValueError, match="unknown split strategy"):
        make_split(m, strategy="random")


def test_segments_of_a_track_never_cross_splits(tmp_path):
    """Segments are cut per track after splitting, so every segment inherits its track's side."""
    from muzo_lib.io.audio import load_audio, segment_signal
    m = scan_dataset(tiny_dataset(tmp_path, per_genre=6, seconds=6.0))
    split, _ = make_split(m, seed=0)
    owner = {}
    for row in usable_tracks(m).merge(split[["track_id", "split"]]).itertuples():
        for seg in segment_signal(load_audio(row.path), 22050):
            key = seg.tobytes()
            assert owner.setdefault(key, row.split) == row.split
    assert len(owner) == len(split) * 6


def test_gtzan_strategy_uses_the_official_lists(tmp_path):
    names = {"blues.00029": "train", "blues.00000": "valid", "classical.00000": "valid"}
    for name in list(names) + ["blues.00001"]:
        genre = name.split(".")[0]
        write(tmp_path / genre / f"{name}.wav", tone(3.5))
    split, info = make_split(scan_dataset(tmp_path), strategy="gtzan")
    got = dict(zip(split.track_id.str.split("/").str[-1], split.split))
    official = gtzan_fault_filtered_split()
    assert got == {n: official[n] for n in got} and len(got) == sum(n in official for n in names | {"blues.00001": 0})


# ---------------------------------------------------------------- reliability (issue 10)

def test_same_name_two_extensions_keeps_one_track_and_reports_the_other(tmp_path):
    tiny_dataset(tmp_path, genres=("rock", "jazz"), per_genre=2)
    write(tmp_path / "rock" / "song.wav", tone(4.0))
    write(tmp_path / "rock" / "song.mp3", tone(4.0))
    m = scan_dataset(tmp_path)
    assert m.track_id.is_unique
    ok = usable_tracks(m)
    assert "rock/song" in set(ok.track_id) and ok.set_index("track_id").loc["rock/song", "path"].endswith(".wav")
    dup = m.set_index("track_id").loc["rock/song.mp3"]
    assert dup.status == "skipped" and "song.wav" in dup.reason and "\n" not in dup.reason  # names the one kept
    assert any("song.mp3" in line for line in skipped_report(m))


def test_huge_float_samples_are_skipped_by_the_scan(tmp_path):
    tiny_dataset(tmp_path, genres=("rock", "jazz"), per_genre=2)
    y = tone(4.0)
    y[100] = 1e17
    write(tmp_path / "rock" / "huge.wav", y, subtype="FLOAT")
    m = scan_dataset(tmp_path).set_index("track_id")
    assert m.loc["rock/huge", "status"] == "skipped" and "absurd" in m.loc["rock/huge", "reason"]


def test_dc_only_and_opus_files(tmp_path):
    tiny_dataset(tmp_path, genres=("rock", "jazz"), per_genre=2)
    write(tmp_path / "rock" / "dc.wav", np.full(22050 * 4, 0.25, dtype=np.float32))
    write(tmp_path / "jazz" / "clip.opus", tone(4.0, sr=48000), sr=48000, format="OGG", subtype="OPUS")
    m = scan_dataset(tmp_path).set_index("track_id")
    assert "no signal (DC only)" in m.loc["rock/dc", "reason"]
    assert m.loc["jazz/clip", "status"] == "ok"  # .opus is audio, in folders too


def test_a_symlink_back_to_the_root_is_not_a_genre(tmp_path):
    tiny_dataset(tmp_path, genres=("rock", "jazz"), per_genre=2)
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    m = scan_dataset(tmp_path)
    assert set(m.genre) == {"rock", "jazz"} and len(m) == 4
    assert any("'loop' links back" in line for line in skipped_report(m))


def test_an_empty_path_is_refused_not_the_current_folder(tmp_path, monkeypatch):
    tiny_dataset(tmp_path, genres=("rock", "jazz"), per_genre=2)
    monkeypatch.chdir(tmp_path)  # a dataset right here: "" must still not mean "."
    with pytest.raises(DatasetError, match="no dataset folder given"):
        scan_dataset("")


@pytest.mark.parametrize("valid, test", [(0.9, 0.9), (0.5, 0.5), (-0.1, 0.2), (0.2, 1.0)])
def test_split_sizes_that_leave_nothing_to_train_on_are_refused(tmp_path, valid, test):
    m = scan_dataset(tiny_dataset(tmp_path, per_genre=4))
    with pytest.raises(ValueError, match="valid_size|test_size"):
        make_split(m, valid_size=valid, test_size=test)
