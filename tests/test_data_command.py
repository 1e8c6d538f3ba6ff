"""`muzo data`: fetch, verify, unpack and lay out GTZAN and FMA archives built in their real layouts,
served from a loopback server or given with --from; the library then reads what it leaves."""
import json

import pandas as pd
import pytest

from muzo_lib.cli import main
from muzo_lib.data import acquire
from muzo_lib.data.datasets import scan_dataset, skipped_report, usable_tracks
from muzo_lib.data.runs import prepare_run
from muzo_lib.data.splits import make_split
from muzo_lib.models.hierarchy import ClassTree
from muzo_lib.training.checkpoints import load_checkpoint
from tests.data_sources import (
    EXPECTED,
    digest,
    fma_audio_archive,
    fma_metadata_archive,
    gtzan_archive,
    loopback_server,
    write_tar,
)


def _run(capsys, *argv):
    code = main(["data", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    base = tmp_path_factory.mktemp("archives")
    return dict(meta=fma_metadata_archive(base / "fma_metadata.zip"), small=fma_audio_archive(base / "fma_small.zip"),
                gtzan=gtzan_archive(base / "genres.tar.gz"))


def test_fma_metadata_then_fma_small_from_a_server(tmp_path, capsys, archives):
    files = {"/fma/fma_metadata.zip": archives["meta"].read_bytes(), "/fma/fma_small.zip": archives["small"].read_bytes()}
    meta, small = tmp_path / "fma_metadata", tmp_path / "fma_small"
    with loopback_server(files, drops={"/fma/fma_small.zip": [40_000]}) as server:
        code, out, _ = _run(capsys, "fma-metadata", "--dest", str(meta), "--url", server.url("/fma/fma_metadata.zip"),
                            "--checksum", "sha1:" + digest(archives["meta"]))
        assert code == 0 and "9 tracks and 11 genres described" in out
        assert (meta / "tracks.csv").is_file() and (meta / "genres.csv").is_file() and not (meta / "fma_metadata").exists()
        code, out, _ = _run(capsys, "fma-small", "--dest", str(small), "--metadata", str(meta),
                            "--mirror", server.url("/fma/fma_small.zip"), "--checksum", digest(archives["small"]))
    assert code == 0, out
    assert ("/fma/fma_small.zip", "bytes=40000-") in server.requests           # the dropped download resumed
    assert (tmp_path / "downloads" / "fma_small.zip").is_file()               # the archive is kept
    placed = sorted(p.relative_to(small).as_posix() for p in small.rglob("*.mp3"))
    assert placed == sorted(f"{EXPECTED[t]}/{t:06d}.mp3" for t in EXPECTED)
    for line in ("skipped 099134.mp3: known FMA file without audio", "skipped 000030.mp3: no top genre",
                 "skipped 000040.mp3: not in tracks.csv"):
        assert line in out
    manifest = json.loads((small / "muzo_data.json").read_text())
    assert manifest["archive"]["verified"] and manifest["archive"]["checksum"] == digest(archives["small"])
    assert manifest["tracks"] == 7 and manifest["counts"]["Rock"] == {"Loud-Rock": 1, "Punk": 1}
    assert {s["file"] for s in manifest["skipped"]} == {"099134.mp3", "000030.mp3", "000040.mp3"}
    assert manifest["left_out"] == 2 and manifest["splits"] == {"test": 2, "train": 4, "valid": 1}

    scanned = scan_dataset(small)                                            # the library reads the layout
    ok = usable_tracks(scanned)
    assert len(ok) == 7 and set(ok.subgenre) == {EXPECTED[t].split("/")[1] for t in EXPECTED}
    assert ok.set_index("track_id").loc["Rock/Punk/000003", "artist"] == "fma-artist-2"
    split, info = make_split(scanned)
    assert info.strategy == "given" and "no artist on two sides" in info.note
    run = prepare_run(small, tmp_path / "run")                                 # what muzo train and the course do
    again = prepare_run(small, tmp_path / "run")                               # loaded from the run folder
    assert run.split_info.strategy == again.split_info.strategy == "given"
    assert again.tracks.sort_values("track_id").split.tolist() == run.tracks.sort_values("track_id").split.tolist()
    assert dict(zip(split.track_id.str[-6:].astype(int), split.split)) == {
        2: "train", 3: "train", 5: "valid", 10: "test", 11: "train", 12: "test", 20: "train"}   # FMA's own split
    model = tmp_path / "fma.pt"                                                # and muzo train --levels trains on it
    assert main(["train", "--data-dir", str(small), "--architecture", "cnn", "--levels", "both", "--output", str(model),
                 "--epochs", "1", "--segment-seconds", "1", "--run-dir", str(tmp_path / "train-run"), "--quiet"]) == 0
    tree = ClassTree.from_dict(load_checkpoint(model).extra["class_tree"])
    assert set(tree.subgenres) == set(EXPECTED.values()) and set(tree.genres) == {g.split("/")[0] for g in EXPECTED.values()}


def test_gtzan_from_an_archive_is_verified_and_laid_out_as_the_library_expects(tmp_path, capsys, archives):
    dest = tmp_path / "gtzan"
    code, out, _ = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(dest),
                        "--checksum", "md5:" + digest(archives["gtzan"], "md5"))
    assert code == 0, out
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.wav")) == [
        "blues/blues.00000.wav", "blues/blues.00001.wav", "classical/classical.00000.wav",
        "jazz/jazz.00000.wav", "jazz/jazz.00054.wav"]
    assert "skipped jazz/jazz.00054.wav: known corrupt GTZAN file" in out
    assert archives["gtzan"].is_file()                                        # --from's file is left alone
    manifest = json.loads((dest / "muzo_data.json").read_text())
    assert manifest["source"].startswith("--from") and manifest["counts"] == {"blues": 2, "classical": 1, "jazz": 2}
    assert manifest["left_out"] == 1 and manifest["archive"]["algorithm"] == "md5"
    scanned = scan_dataset(dest)
    assert scanned.attrs["is_gtzan"]
    assert scanned.set_index("track_id").loc["blues/blues.00000", "artist"] == "gtzan-artist-0"
    assert any("jazz.00054" in line and "known corrupt" in line for line in skipped_report(scanned))
    split, info = make_split(scanned, strategy="gtzan")
    assert info.strategy == "gtzan" and dict(zip(split.track_id, split.split))["blues/blues.00000"] == "valid"


def test_kaggles_zip_layout_is_found(tmp_path, capsys):
    archive = gtzan_archive(tmp_path / "archive.zip", top="Data/genres_original", kind="zip")
    dest = tmp_path / "gtzan"
    code, out, _ = _run(capsys, "gtzan", "--from", str(archive), "--dest", str(dest), "--allow-unknown-checksum")
    assert code == 0, out
    assert "matches no known checksum; used anyway" in out
    assert sorted(p.name for p in (dest / "blues").iterdir()) == ["blues.00000.wav", "blues.00001.wav"]
    assert not (dest / "images_original").exists()
    manifest = json.loads((dest / "muzo_data.json").read_text())
    assert manifest["archive"]["verified"] is False and manifest["left_out"] == 3


def test_an_unknown_checksum_stops_unless_allowed(tmp_path, capsys, archives):
    code, _, err = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(tmp_path / "g"))
    assert code == 2 and "checksum unknown" in err and "--allow-unknown-checksum" in err and err.count("\n") == 1
    assert "5b3d6dddb579ab49814ab86dba69e7c7" in err                        # mirdata's MD5 is what it expected
    assert not (tmp_path / "g").exists()


def test_gtzan_without_an_archive_says_to_use_from(tmp_path, capsys):
    code, _, err = _run(capsys, "gtzan", "--dest", str(tmp_path / "g"))
    assert code == 2 and "--from ARCHIVE" in err and err.count("\n") == 1


def test_fma_audio_without_metadata_fails_before_downloading(tmp_path, capsys):
    code, _, err = _run(capsys, "fma-small", "--dest", str(tmp_path / "s"), "--metadata", str(tmp_path / "none"),
                        "--url", "http://127.0.0.1:9/never")
    assert code == 2 and "muzo data fma-metadata" in err


def test_an_existing_folder_is_never_written_into_and_a_finished_one_is_kept(tmp_path, capsys, archives):
    dest = tmp_path / "gtzan"
    dest.mkdir()
    (dest / "mine.txt").write_text("the user's")
    md5 = "md5:" + digest(archives["gtzan"], "md5")
    code, _, err = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(dest), "--checksum", md5)
    assert code == 2 and "not empty" in err and sorted(p.name for p in dest.iterdir()) == ["mine.txt"]
    other = tmp_path / "g2"
    assert _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(other), "--checksum", md5)[0] == 0
    before = (other / "muzo_data.json").read_text()
    code, out, _ = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(other), "--checksum", md5)
    assert code == 0 and "nothing to do" in out and (other / "muzo_data.json").read_text() == before


@pytest.mark.parametrize("members, message", [
    ({"genres/blues/blues.00000.wav": b"x", "../escape.wav": b"x"}, "would land outside"),
    ({}, "holds no files"),
])
def test_a_hostile_or_empty_archive_leaves_nothing_behind(tmp_path, capsys, members, message):
    archive = write_tar(tmp_path / "genres.tar.gz", members)
    dest = tmp_path / "data" / "gtzan"
    code, _, err = _run(capsys, "gtzan", "--from", str(archive), "--dest", str(dest), "--allow-unknown-checksum")
    assert code == 2 and message in err and err.count("\n") == 1
    assert list((tmp_path / "data").iterdir()) == [] and not (tmp_path / "escape.wav").exists()   # no scratch left


def test_a_full_disk_while_unpacking_is_one_line_and_leaves_no_half_dataset(tmp_path, capsys, archives, monkeypatch):
    import errno

    from muzo_lib.data import archives as archives_module

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archives_module.shutil, "copyfileobj", full)
    dest = tmp_path / "data" / "gtzan"
    code, _, err = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(dest),
                        "--checksum", "md5:" + digest(archives["gtzan"], "md5"))
    assert code == 2 and "disk full while extracting genres.tar.gz" in err
    assert list((tmp_path / "data").iterdir()) == []


def test_a_full_disk_while_laying_out_is_one_line(tmp_path, capsys, archives, monkeypatch):
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(acquire.os, "replace", full)
    dest = tmp_path / "data" / "gtzan"
    code, _, err = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(dest),
                        "--checksum", "md5:" + digest(archives["gtzan"], "md5"))
    assert code == 2 and "disk full while laying out gtzan" in err
    assert list((tmp_path / "data").iterdir()) == []


def test_a_download_with_the_wrong_checksum_is_refused(tmp_path, capsys, archives):
    with loopback_server({"/m.zip": archives["meta"].read_bytes()}) as server:
        code, _, err = _run(capsys, "fma-metadata", "--dest", str(tmp_path / "m"), "--url", server.url("/m.zip"))
    assert code == 2 and "expected f0df49ffe5f2a6008d7dc83c6915b31835dfe733" in err    # FMA's published SHA1
    assert not (tmp_path / "m").exists() and (tmp_path / "downloads" / "m.zip.bad").is_file()


def test_an_empty_destination_folder_is_used(tmp_path, capsys, archives):
    dest = tmp_path / "gtzan"
    dest.mkdir()
    code, _, _ = _run(capsys, "gtzan", "--from", str(archives["gtzan"]), "--dest", str(dest),
                      "--checksum", "md5:" + digest(archives["gtzan"], "md5"))
    assert code == 0 and (dest / "blues" / "blues.00000.wav").is_file()


def test_the_readme_commands_parse(monkeypatch):
    import re
    from pathlib import Path

    from muzo_lib import cli

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("## Getting real datasets", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("#")[0].split() for line in re.findall(r"```bash\n(.*?)```", section, re.S)[0].splitlines()]
    seen = []
    monkeypatch.setattr(cli, "_data", lambda args: seen.append(args.name) or 0)
    for argv in lines:
        assert argv[0].endswith("muzo") and cli.main(argv[1:]) == 0, argv
    assert seen == ["fma-metadata", "fma-small", "fma-medium", "gtzan"]


def test_bad_checksum_option_and_unknown_dataset(tmp_path, capsys):
    code, _, err = _run(capsys, "gtzan", "--from", "x", "--checksum", "crc:zz")
    assert code == 2 and "--checksum should be ALGO:HEX" in err
    with pytest.raises(ValueError, match="unknown dataset 'fma-huge'"):
        acquire.obtain_dataset("fma-huge")
    code, _, err = _run(capsys, "gtzan", "--from", "x.tar.gz", "--url", "http://127.0.0.1:9/x")
    assert code == 2 and "not both" in err
    code, _, err = _run(capsys, "gtzan", "--from", str(tmp_path / "missing.tar.gz"), "--dest", str(tmp_path / "g"))
    assert code == 2 and "no such archive file" in err


def test_a_given_split_in_metadata_csv_is_validated(tmp_path):
    from muzo_lib.data.datasets import DatasetError
    from tests.helpers import tone, write

    for genre in ("a", "b"):
        for i in range(2):
            write(tmp_path / genre / f"{i}.wav", tone(3.5, seed=i))
    table = pd.DataFrame({"path": ["a/0.wav", "a/1.wav", "b/0.wav", "b/1.wav"], "artist": ["x", "y", "z", "w"],
                          "split": ["training", "test", "validation", ""]})
    table.to_csv(tmp_path / "metadata.csv", index=False)
    m = scan_dataset(tmp_path)
    assert list(m.given_split) == ["train", "test", "valid", ""]
    assert make_split(m)[1].strategy != "given"                       # one track without a side: not chosen
    split, info = make_split(m, strategy="given")
    assert len(split) == 3 and "1 track(s) without a side left out" in info.note
    table.loc[3, "split"] = "holdout"
    table.to_csv(tmp_path / "metadata.csv", index=False)
    with pytest.raises(DatasetError, match="split 'holdout' for b/1.wav"):
        scan_dataset(tmp_path)


@pytest.mark.slow
def test_the_command_in_its_own_process_shows_progress_and_fails_in_one_line(tmp_path, archives):
    import subprocess
    import sys

    def muzo(*args):
        return subprocess.run([sys.executable, "-m", "muzo_lib.cli", "data", *map(str, args)], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)

    with loopback_server({"/m.zip": archives["meta"].read_bytes()}) as server:
        done = muzo("fma-metadata", "--url", server.url("/m.zip"), "--checksum", digest(archives["meta"]))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "fma_metadata" / "tracks.csv").is_file()          # the default --dest, from here
    assert "m.zip" in done.stderr and "B/s" in done.stderr                        # tqdm's bar on stderr
    assert "fma-metadata: 9 tracks and 11 genres described" in done.stdout
    bad = write_tar(tmp_path / "bad.tar.gz", {"genres/../../x.wav": b"x"})
    done = muzo("gtzan", "--from", bad, "--allow-unknown-checksum")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("muzo data: bad.tar.gz is refused")
