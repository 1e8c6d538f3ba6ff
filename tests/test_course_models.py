"""The course's models: one place for the training defaults, cross-validation, reuse."""
import importlib.util
from dataclasses import replace

import numpy as np
import pytest
from helpers import tiny_dataset

from muzo_lib.course.members import COURSE_TRAINING, course_train_config, cross_validate, reuse_course_network, train_on_run
from muzo_lib.data.runs import prepare_run
from muzo_lib.features.spectrogram import MelConfig


def test_course_train_config_keeps_defaults_for_none_and_takes_overrides():
    default = course_train_config()
    assert all(getattr(default, k) == v for k, v in COURSE_TRAINING.items())
    same = course_train_config(epochs=None, learning_rate=None, device="", gain_db=None)
    assert same == default
    changed = course_train_config(epochs=3, gain_db=0.0, mixup_alpha=0.2, seed=5)
    assert (changed.epochs, changed.augment.gain_db, changed.augment.mixup_alpha, changed.seed) == (3, 0.0, 0.2, 5)
    assert changed.augment.freq_masks == default.augment.freq_masks
    with pytest.raises(TypeError, match="unknown setting"):
        course_train_config(epoch=3)


def test_each_training_default_has_one_source_and_the_course_keeps_its_own_numbers():
    import inspect

    from muzo_lib.course.classifiers import SEED_TRAINING, CNNMusicClassifier, train_cnn_music_model
    from muzo_lib.course.members import COURSE_FOREST
    from muzo_lib.models.forest import FOREST_TREES, MusicGenreClassifier
    from muzo_lib.training.loop import TrainConfig

    assert COURSE_FOREST == {"n_estimators": 200}                    # the course's forest, as before
    assert MusicGenreClassifier().n_estimators == FOREST_TREES == 300   # the library's
    assert (COURSE_TRAINING["epochs"], TrainConfig().epochs, SEED_TRAINING["num_epochs"]) == (30, 30, 50)
    for function in (train_cnn_music_model, CNNMusicClassifier.train, CNNMusicClassifier.__init__):
        parameters = inspect.signature(function).parameters
        assert all(parameters[k].default == v for k, v in SEED_TRAINING.items() if k in parameters), function


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["rf", "cnn"])
def test_cross_validation_predicts_every_track_once(tmp_path, architecture):
    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=6, seconds=3.0), tmp_path / "run", seed=0)
    lines = []
    cv = cross_validate(run, architecture, k=3, seed=0, rf_params={"n_estimators": 20},
                        train_config=course_train_config(epochs=1, segment_seconds=1.0, progress=False, verbose=False),
                        mel_config=MelConfig(n_mels=32), model_options=None if architecture == "rf" else
                        {"channels": (4, 8, 8, 8)}, progress=False, log=lines.append)
    predictions = cv.predictions
    assert sorted(predictions.track_id) == sorted(run.tracks.track_id) and cv.n == len(run.tracks) == 18
    assert len(lines) == 3 and [f["fold"] for f in cv.per_fold] == [0, 1, 2] and cv.model == architecture
    assert cv.accuracy == pytest.approx(100 * np.mean(predictions.genre == predictions.predicted))
    assert cv.accuracy_ci[0] <= cv.accuracy <= cv.accuracy_ci[1]
    assert np.allclose(predictions[run.classes].sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_a_later_notebook_reuses_the_course_network_only_when_every_setting_matches(tmp_path):
    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=5, seconds=3.0), tmp_path / "run", seed=0)
    mel = MelConfig(n_mels=32)
    cfg = course_train_config(epochs=1, segment_seconds=1.0, progress=False, verbose=False)
    assert reuse_course_network(run, "cnn", mel, cfg) is None                 # nothing trained yet
    trained = train_on_run(run, "cnn", "cnn", mel, cfg)
    if importlib.util.find_spec("tensorboard"):                              # the run folder's event files
        assert list((run.run_dir / "tensorboard" / "cnn").glob("events.out.tfevents.*"))
    reused = reuse_course_network(run, "cnn", mel, cfg)
    assert reused.checkpoint_path == trained.checkpoint_path and reused.training is None
    np.testing.assert_allclose(reused.test["track_probs"], trained.test["track_probs"], atol=1e-4)
    assert list(reused.test["predictions"]) == list(trained.test["predictions"])
    assert reused.record["accuracy"] == trained.record["accuracy"]
    assert reuse_course_network(run, "cnn", mel, replace(cfg, epochs=2)) is None   # other settings: train again
    assert reuse_course_network(run, "cnn", mel, cfg, seed=1) is None
    assert reuse_course_network(run, "cnn", MelConfig(n_mels=16), cfg) is None
    assert reuse_course_network(run, "hybrid", mel, cfg) is None
