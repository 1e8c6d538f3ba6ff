import json

import pandas as pd
import pytest

from muzo_lib.datasets import DatasetError
from muzo_lib.paths import atomic_write_json, project_path, project_root
from muzo_lib.runs import load_metrics, prepare_run, save_metrics
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
    monkeypatch.setattr("muzo_lib.runs.scan_dataset", lambda *a, **k: pytest.fail("rescanned"))
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
