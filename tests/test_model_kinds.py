"""The registry of model kinds and the one predictor protocol.

A kind defined outside muzo_lib (tests/fake_kind.py) and registered with one line trains,
cross-validates, loads and predicts through the same CLI and course paths as the built-in kinds.
"""
import json

import numpy as np
import pandas as pd
import pytest

from muzo_lib import cli
from muzo_lib.models.kinds import KINDS, kind_of_file, model_kind, register_kind, trainable_kinds
from muzo_lib.models.predictor import Predictor
from tests import fake_kind
from tests.helpers import tiny_dataset, tone, write

ROLES = ("train", "cross_validate", "load", "recognizes", "export")


@pytest.fixture
def majority():
    register_kind(fake_kind.KIND)            # the one line that adds a kind
    yield fake_kind.KIND
    KINDS.pop(fake_kind.KIND.name)


@pytest.fixture
def data_dir(tmp_path):
    root = tiny_dataset(tmp_path / "music", per_genre=6)
    for i in range(4):                       # rock is the most common genre
        write(root / "rock" / f"extra_{i}.wav", tone(4.0, freq=700.0 + 10 * i, seed=i))
    return root


def test_every_built_in_kind_names_functions_that_exist():
    assert [k.name for k in trainable_kinds()] == ["cnn", "hybrid", "rf", "musicnn", "musicnn-finetune"]
    for kind in KINDS.values():
        for role in ROLES:
            if getattr(kind, role) is not None:
                assert callable(kind.function(role)), (kind.name, role)
    assert model_kind("rf").export is None and model_kind("cnn").network and not model_kind("musicnn").subgenres


def test_an_unknown_kind_is_one_error_naming_every_known_one():
    with pytest.raises(ValueError) as error:
        model_kind("svm")
    message = str(error.value)
    assert "\n" not in message and all(k.name in message for k in trainable_kinds())
    with pytest.raises(ValueError):
        model_kind("rf").function("export")    # a role the kind does not have


def test_the_kind_of_a_file_is_read_from_its_content_then_its_name(tmp_path):
    import torch

    from muzo_lib.models.forest import MusicGenreClassifier

    checkpoint = tmp_path / "renamed.skops"                       # a torch file under a forest's name
    torch.save({"x": torch.zeros(1)}, checkpoint)
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(9, 2)), columns=["a", "b"])
    forest = MusicGenreClassifier(n_estimators=2).fit(X, ["x", "y", "z"] * 3).save_model(tmp_path / "forest.pt")
    (tmp_path / "junk.skops").write_text("hello")
    (tmp_path / "junk.bin").write_text("hello")
    assert kind_of_file(checkpoint).name == "cnn"
    assert kind_of_file(forest).name == "rf"
    assert kind_of_file(tmp_path / "junk.skops").name == "rf"       # by name: its loader says what is wrong
    assert kind_of_file(tmp_path / "junk.bin").name == "cnn"         # nothing matches: the checkpoint loader


def _predictors(tmp_path):
    """One predictor of each of muzo_lib's types, built small."""
    import torch

    from muzo_lib.features.spectrogram import MelConfig
    from muzo_lib.inference.prediction import ForestPredictor, load_model
    from muzo_lib.models.forest import MusicGenreClassifier
    from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
    from muzo_lib.models.pretrained.classifier import EmbeddingClassifier, EmbeddingPredictor
    from muzo_lib.training.checkpoints import save_checkpoint

    torch.manual_seed(0)
    network = SpectrogramCNN(CNNConfig(n_classes=2, n_mels=32, channels=(4, 4, 8, 8), hidden=8)).eval()
    pt = save_checkpoint(tmp_path / "cnn.pt", network, MelConfig(n_mels=32), ["a", "b"], segment_seconds=1.0)
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(8, 2)), columns=["a", "b"])
    forest = ForestPredictor(MusicGenreClassifier(n_estimators=2).fit(X, ["a", "b"] * 4))
    embedding = EmbeddingPredictor(EmbeddingClassifier().fit(np.random.default_rng(0).normal(size=(8, 3)),
                                                             ["a", "b"] * 4), device="cpu")
    predictors = {"network": load_model(pt, device="cpu"), "forest": forest, "embedding": embedding}
    try:
        from muzo_lib.inference.export import export_onnx

        predictors["onnx"] = load_model(export_onnx(pt, tmp_path / "cnn.onnx"))
    except ModuleNotFoundError:                       # onnx or onnxruntime not installed
        pass
    return predictors


def test_every_predictor_type_implements_the_one_protocol(tmp_path):
    predictors = _predictors(tmp_path)
    assert {"network", "forest", "embedding"} <= set(predictors)
    members = [m for m in dir(Predictor) if not m.startswith("_")] + list(Predictor.__annotations__)
    for name, predictor in predictors.items():
        assert isinstance(predictor, Predictor), name
        missing = [m for m in members if not hasattr(predictor, m)]
        assert not missing, (name, missing)
        assert predictor.predict_prepared([]).shape == (0, 2), name


def test_a_network_s_windows_equal_its_windows_scored_one_by_one(tmp_path):
    network = _predictors(tmp_path)["network"]
    y = tone(4.0, freq=330.0)
    starts = [0, 22050, 44100]
    from muzo_lib.models.predictor import PredictorBase

    sliced = network.predict_windows(y, starts, 2.0)
    one_by_one = PredictorBase.predict_windows(network, y, starts, 2.0)
    assert sliced.shape == one_by_one.shape == (3, 2)
    assert np.allclose(sliced, one_by_one, atol=0.05)     # one log-mel sliced vs. one per window: edge frames differ


def test_a_kind_registered_outside_muzo_lib_trains_and_predicts_through_the_cli(majority, data_dir, tmp_path, capsys):
    from muzo_lib.data.runs import prepare_run

    out, run_dir = tmp_path / "m.json", tmp_path / "run"
    assert cli.main(["train", "--data-dir", str(data_dir), "--architecture", "majority", "--output", str(out),
                     "--run-dir", str(run_dir), "--quiet"]) == 0
    expected = fake_kind.majority_genre(prepare_run(data_dir, run_dir).subset("train").genre)
    assert json.loads(out.read_text())["genre"] == expected == "rock"
    capsys.readouterr()
    clip = write(tmp_path / "clip.wav", tone(3.0, freq=220.0))
    assert cli.main(["predict", str(clip), "--model", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["genre"] for r in result] == [expected] and result[0]["confidence"] == 1.0
    assert cli.main(["train", "--data-dir", str(data_dir), "--architecture", "majority", "--output",
                     str(tmp_path / "m.pt"), "--run-dir", str(run_dir)]) == 2      # its own suffix only
    assert cli.main(["train", "--data-dir", str(data_dir), "--architecture", "majority", "--resume", "--output",
                     str(out), "--run-dir", str(run_dir)]) == 2                    # not a network


def test_a_kind_registered_outside_muzo_lib_goes_through_the_course_paths(majority, data_dir, tmp_path):
    from muzo_lib.course.members import (
        COURSE_MODELS,
        course_model_path,
        cross_validate,
        ensure_course_model,
        member_probabilities,
        train_member,
    )
    from muzo_lib.data.runs import prepare_run
    from muzo_lib.inference.prediction import load_model

    run = prepare_run(data_dir, tmp_path / "run")
    assert COURSE_MODELS["majority"] == "models/majority.json"
    out = train_member(run, "majority")
    assert out["path"] == str(course_model_path(run, "majority")) and out["test"]["n"] == len(run.subset("test"))
    before = course_model_path(run, "majority").stat().st_mtime_ns
    assert ensure_course_model(run, "majority") == course_model_path(run, "majority")
    assert course_model_path(run, "majority").stat().st_mtime_ns == before           # kept, not retrained
    probs = member_probabilities(run, {"m": load_model(out["path"])}, "test")["m"]
    assert probs.shape == (len(run.subset("test")), len(run.classes))
    assert (probs.argmax(axis=1) == run.classes.index("rock")).all()
    cv = cross_validate(run, "majority", k=2, seed=0)
    assert cv.n == len(run.tracks) and len(cv.per_fold) == 2
    majority_share = 100 * np.mean(cv.predicted == cv.genres)
    assert cv.accuracy == pytest.approx(majority_share)
