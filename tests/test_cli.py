"""`muzo train` and `muzo predict` driven as a user would: subprocesses on generated audio."""
import json
import subprocess
import sys

import pytest

from tests.helpers import tiny_dataset, tone, write

pytestmark = pytest.mark.slow


def _muzo(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "muzo_lib.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny dataset, a CNN (1 epoch) and a Random Forest (10 trees) trained by `muzo train`."""
    root = tmp_path_factory.mktemp("cli")
    data = tiny_dataset(root / "data", per_genre=6, seconds=4.0)
    cnn = _muzo("train", "--data-dir", data, "--architecture", "cnn", "--output", root / "cnn.pt",
                "--epochs", "1", "--segment-seconds", "1", "--quiet")
    assert cnn.returncode == 0, cnn.stderr
    rf = _muzo("train", "--data-dir", data, "--architecture", "rf", "--output", root / "rf.skops",
               "--trees", "10", "--quiet")
    assert rf.returncode == 0, rf.stderr
    hybrid = _muzo("train", "--data-dir", data, "--architecture", "hybrid", "--output", root / "hybrid.pt",
                   "--epochs", "1", "--segment-seconds", "1", "--quiet", "--run-dir", root / "run")
    assert hybrid.returncode == 0, hybrid.stderr
    return root, data, cnn, rf


def test_train_saves_models_and_reports_test_accuracy(trained):
    root, _, cnn, rf = trained
    assert (root / "cnn.pt").is_file() and (root / "rf.skops").is_file()
    assert "saved cnn model to" in cnn.stdout and "test accuracy" in cnn.stdout
    assert "saved rf model to" in rf.stdout
    assert (root / "hybrid.pt").is_file() and (root / "run" / "split.csv").is_file()
    done = _muzo("predict", root / "data" / "pop", "--model", root / "hybrid.pt", "--json")
    assert done.returncode == 0 and len(json.loads(done.stdout)) == 6, done.stderr


def test_predict_prints_a_table_and_reports_unreadable_files(trained):
    root, data, _, _ = trained
    (root / "broken.wav").write_text("not audio")
    done = _muzo("predict", data / "jazz", root / "broken.wav", "--model", root / "cnn.pt", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert str(data / "jazz" / "jazz_0.wav") in done.stdout
    assert "6 of 7 file(s) predicted with cnn model" in done.stdout
    assert "broken.wav" in done.stderr and "Traceback" not in done.stderr


def test_predict_json_for_scripts_with_top_k_and_forest_model(trained):
    root, data, _, _ = trained
    done = _muzo("predict", data / "rock" / "rock_0.wav", data / "pop", "--model", root / "rf.skops",
                 "--json", "--top-k", "2")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert len(items) == 7 and all(it["error"] is None for it in items)
    assert all(len(it["top_k"]) == 2 and it["genre"] == it["top_k"][0]["genre"] for it in items)
    assert set(items[0]["probabilities"]) == {"jazz", "pop", "rock"}


def test_predict_exits_non_zero_only_when_nothing_could_be_predicted(trained, tmp_path):
    root, _, _, _ = trained
    (tmp_path / "a.wav").write_bytes(b"")
    done = _muzo("predict", tmp_path / "a.wav", "--model", root / "cnn.pt", "--json")
    assert done.returncode == 1 and json.loads(done.stdout)[0]["error"] == "empty file (0 bytes)"
    assert "Traceback" not in done.stderr


def test_relative_paths_are_taken_from_the_current_folder(trained):
    root, _, _, _ = trained
    write(root / "here.wav", tone(2.0))
    done = _muzo("predict", "here.wav", "--model", "cnn.pt", "--json", cwd=root)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, message", [
    (["predict", "x.wav"], "--model"),
    (["predict", "x.wav", "--model", "m.pt", "--top-k", "zero"], "expected a whole number"),
    (["predict", "/no/such/file.wav", "--model", "__MODEL__"], "no such file or folder"),
    (["predict", "__DATA__", "--model", "/no/model.pt"], "no such model file"),
    (["predict", "__DATA__", "--model", "__DATA__/jazz/jazz_0.wav"], "not a Muzo checkpoint"),
    (["train", "--data-dir", "/no/such/folder", "--architecture", "cnn", "--output", "m.pt"], "dataset folder not found"),
    (["train", "--data-dir", "__DATA__", "--architecture", "svm", "--output", "m.pt"], "invalid choice"),
    (["train", "--data-dir", "__DATA__", "--architecture", "rf", "--output", "m.pt"], "should end in .skops"),
    (["train", "--data-dir", "__DATA__", "--architecture", "cnn", "--output", "m.pt", "--epochs", "0"], "at least 1"),
    (["train", "--data-dir", "__DATA__", "--architecture", "cnn"], "--cv K"),
    (["train", "--data-dir", "__DATA__", "--architecture", "rf", "--cv", "1"], "at least 2 folds"),
])
def test_wrong_arguments_give_one_line_not_a_traceback(trained, args, message):
    root, data, _, _ = trained
    args = [str(a).replace("__MODEL__", str(root / "cnn.pt")).replace("__DATA__", str(data)) for a in args]
    done = _muzo(*args, cwd=root)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_train_cross_validates_every_track(trained, tmp_path):
    _, data, _, _ = trained
    done = _muzo("train", "--data-dir", data, "--architecture", "rf", "--cv", "3", "--trees", "10", "--quiet",
                 "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert "rf: cross-validated accuracy % " in line and "on 18 tracks" in line and "per fold: " in line
    assert "3-fold cross-validation" in line and not list(tmp_path.glob("*.skops"))  # --cv alone writes no model


@pytest.mark.parametrize("command", ["predict", "train", "course"])
def test_help_of_each_subcommand(command):
    done = _muzo(command, "--help")
    assert done.returncode == 0 and "usage: muzo " + command in done.stdout and "example" in done.stdout or command == "course"


@pytest.mark.slow
def test_train_and_predict_with_the_pretrained_musicnn_embeddings(trained, tmp_path):
    pytest.importorskip("musicnn")
    _, data, _, _ = trained
    done = _muzo("train", "--data-dir", data, "--architecture", "musicnn", "--output", tmp_path / "m.skops",
                 "--quiet", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "saved musicnn model to" in done.stdout and (tmp_path / "m.skops").is_file()
    predicted = _muzo("predict", data / "pop", "--model", tmp_path / "m.skops", "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    items = json.loads(predicted.stdout)
    assert len(items) == 6 and all(it["error"] is None and it["genre"] in ("jazz", "pop", "rock") for it in items)
    table = _muzo("predict", data / "pop", "--model", tmp_path / "m.skops", "--no-progress", cwd=tmp_path)
    assert table.returncode == 0 and "6 of 6 file(s) predicted with musicnn model m.skops" in table.stdout, table.stderr
    cv = _muzo("train", "--data-dir", data, "--architecture", "musicnn", "--cv", "3", "--quiet",
               "--run-dir", tmp_path / "run", cwd=tmp_path)                    # the embeddings cached above are reused
    assert cv.returncode == 0, cv.stderr
    line = cv.stdout.strip().splitlines()[-1]
    assert line.startswith("musicnn: cross-validated accuracy % ") and "on 18 tracks" in line and "per fold: " in line
