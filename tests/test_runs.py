import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from muzo_lib.data.datasets import DatasetError
from muzo_lib.data.runs import load_metrics, prepare_run, save_metrics
from muzo_lib.io.paths import atomic_write_json, project_path, project_root
from tests.helpers import tiny_dataset


def test_project_paths_hang_from_muzo_root_and_library_paths_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("MUZO_ROOT", str(tmp_path / "root"))
    assert project_root() == (tmp_path / "root").resolve()
    assert project_path("runs/x") == (tmp_path / "root").resolve() / "runs/x"
    assert project_path("/abs/y") == project_path("/abs/y")
    assert project_path("") is None and project_path(None) is None
    # a library call with a relative path works where the caller is, like any Python library
    data = tiny_dataset(tmp_path / "here" / "data", per_genre=6)
    monkeypatch.chdir(tmp_path / "here")
    run = prepare_run("data", "run", seed=0)
    assert run.data_dir.resolve() == data.resolve() and (tmp_path / "here" / "run" / "split.csv").is_file()
    assert not (tmp_path / "root" / "run").exists()
    # no run folder given: the project's own default place
    assert prepare_run("data", seed=0).run_dir == project_path("runs/course")


def test_prepare_run_writes_and_reuses_manifest_and_split(tmp_path, monkeypatch):
    data = tiny_dataset(tmp_path / "data", per_genre=6)
    run = prepare_run(data, tmp_path / "run", seed=3)
    assert {"manifest.csv", "split.csv", "dataset.json"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert run.classes == ["jazz", "pop", "rock"] and len(run.tracks) == 18
    assert set(run.tracks.split) == {"train", "valid", "test"}
    # a second notebook loads instead of rescanning
    monkeypatch.setattr("muzo_lib.data.runs.scan_dataset", lambda *a, **k: pytest.fail("rescanned"))
    again = prepare_run(data, tmp_path / "run", seed=3)
    pd.testing.assert_frame_equal(again.tracks, run.tracks)
    assert again.labels("test").tolist() == run.labels("test").tolist()


def test_changed_settings_rescan(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=6)
    a = prepare_run(data, tmp_path / "run", seed=0)
    b = prepare_run(data, tmp_path / "run", seed=1)
    assert json.loads((tmp_path / "run" / "dataset.json").read_text())["settings"]["seed"] == 1
    assert not a.tracks.split.equals(b.tracks.split) or len(a.tracks) < 10


def test_logmels_for_every_usable_track(tmp_path):
    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=3), tmp_path / "run")
    mels = run.logmels(progress=False)
    assert set(mels) == set(run.tracks.track_id)
    assert all(m.shape[0] == 128 for m in mels.values())


def test_missing_dataset_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        prepare_run(tmp_path / "nope", tmp_path / "run")


def test_metrics_round_trip(tmp_path):
    import numpy as np
    save_metrics(tmp_path, "cnn", {"accuracy": np.float64(50.0), "n": np.int64(4)})
    assert load_metrics(tmp_path) == {"cnn": {"accuracy": 50.0, "n": 4}}


def test_atomic_json_never_half_written(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


# ---------------------------------------------------------------- reliability (issue 10)

def _touch_later(path):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_a_new_genre_folder_is_noticed_and_the_run_rebuilt(tmp_path):
    data = tiny_dataset(tmp_path / "data", genres=("rock", "pop"), per_genre=4)
    first = prepare_run(data, tmp_path / "run")
    assert first.classes == ["pop", "rock"] and first.dataset_changes == ""
    tiny_dataset(data, genres=("jazz",), per_genre=4)
    again = prepare_run(data, tmp_path / "run")
    assert again.classes == ["jazz", "pop", "rock"] and len(again.tracks) == 12
    assert again.dataset_changes == "files: 4 added"
    assert prepare_run(data, tmp_path / "run").dataset_changes == ""  # now up to date


def test_a_removed_or_edited_file_is_noticed(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=4)
    prepare_run(data, tmp_path / "run")
    (data / "rock" / "rock_0.wav").unlink()
    after_removal = prepare_run(data, tmp_path / "run")
    assert after_removal.dataset_changes == "files: 1 removed"
    assert "rock/rock_0" not in set(after_removal.tracks.track_id)
    assert all(Path(p).is_file() for p in after_removal.tracks.path)  # no [Errno 2] later
    _touch_later(data / "pop" / "pop_1.wav")
    assert prepare_run(data, tmp_path / "run").dataset_changes == "files: 1 modified"


def test_a_manifest_without_a_file_list_is_rebuilt(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=4)
    prepare_run(data, tmp_path / "run")
    meta_path = tmp_path / "run" / "dataset.json"
    meta = json.loads(meta_path.read_text())
    del meta["files"]  # as written before runs kept one
    meta_path.write_text(json.dumps(meta))
    assert "no file list" in prepare_run(data, tmp_path / "run").dataset_changes


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "m.json", {"a": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_json(tmp_path / "p.json", {}).stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_default_train_run_dir_is_outside_any_checkout(tmp_path, monkeypatch):
    from muzo_lib.io.paths import default_train_run_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a = default_train_run_dir(tmp_path / "data", tmp_path / "models" / "cnn.pt")
    assert a.parent == tmp_path / "cache" / "muzo" / "runs" and a.name.startswith("cnn-")
    assert default_train_run_dir(tmp_path / "other", tmp_path / "models" / "cnn.pt") != a


def _break_after_scan(run, n: int = 1) -> list[str]:
    """Make ``n`` of a scanned run's files undecodable (the scan had accepted them)."""
    broken = list(run.tracks.track_id[:n])
    for path in run.tracks.path[:n]:
        Path(path).write_bytes(b"RIFF no longer audio")
    return broken


def test_a_track_that_fails_its_log_mel_is_dropped_and_reported(tmp_path, caplog):
    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=3), tmp_path / "run")
    broken = _break_after_scan(run)
    with caplog.at_level("WARNING", logger="muzo"):
        mels = run.logmels(progress=False)
    assert broken[0] not in mels and len(mels) == len(run.tracks) == 8
    assert broken[0] not in set(run.tracks.track_id)
    row = run.manifest[run.manifest.track_id == broken[0]].iloc[0]
    assert row.status == "skipped" and row.reason.startswith("log-mels: ")
    assert any(line.startswith(f"skipped {row.path}: log-mels: ") for line in run.skipped())
    assert [r.levelname for r in caplog.records] == ["WARNING"] and broken[0] in caplog.records[0].getMessage()


def test_a_track_that_fails_its_embedding_is_dropped_and_reported(tmp_path, caplog):
    from muzo_lib.models.pretrained.embeddings import EmbeddingConfig, run_embeddings

    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=2, seconds=3.0), tmp_path / "run")
    broken = _break_after_scan(run)
    with caplog.at_level("WARNING", logger="muzo"):
        outputs = run_embeddings(run, EmbeddingConfig(precision="float32"), progress=False)
    assert set(outputs) == set(run.tracks.track_id) and broken[0] not in outputs and len(outputs) == 5
    row = run.manifest[run.manifest.track_id == broken[0]].iloc[0]
    assert row.status == "skipped" and row.reason.startswith("musicnn embeddings: ")
    assert len(caplog.records) == 1


def test_drop_tracks_ignores_paths_the_run_does_not_hold(tmp_path, caplog):
    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=3), tmp_path / "run")
    with caplog.at_level("WARNING", logger="muzo"):
        assert run.drop_tracks({}, "x") == [] and run.drop_tracks({"/elsewhere.wav": "gone"}, "x") == []
    assert len(run.tracks) == 9 and caplog.records == []


def test_every_metrics_file_starts_with_the_same_score_keys():
    from muzo_lib.data.runs import SCORE_KEYS, score_record

    scores = {"accuracy": 75.0, "macro_f1": 70.0, "accuracy_ci": (50.0, 100.0), "macro_f1_ci": (40.0, 90.0), "n": 4,
              "per_class": {}}
    record = score_record("rf", scores, seed=3)
    assert tuple(record)[:len(SCORE_KEYS)] == SCORE_KEYS and record["seed"] == 3 and "per_class" not in record
    assert record["accuracy_ci"] == [50.0, 100.0] and (record["split"], record["level"]) == ("test", "track")
    empty = score_record("cnn", None)
    assert empty["accuracy"] is None and empty["accuracy_ci"] is None and empty["n"] == 0
    with pytest.raises(ValueError, match="score keys"):
        score_record("x", scores, n=5)
