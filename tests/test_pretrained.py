"""musicnn in PyTorch: checkpoint reader, parity with TensorFlow, embeddings, their cache and classifier."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import tiny_dataset, tone, write
from sklearn.neighbors import KNeighborsClassifier

from muzo_lib.models.pretrained.classifier import (
    HEADS,
    EmbeddingClassifier,
    EmbeddingModelError,
    EmbeddingPredictor,
    cross_validate,
    cv_folds,
    is_embedding_model,
    train_embedding_model,
)
from muzo_lib.models.pretrained.embeddings import Embedder, EmbeddingCache, EmbeddingConfig, embed, track_features
from muzo_lib.models.pretrained.musicnn import MSD_LABELS, PATCH_FRAMES, FoldedMusicnn, Musicnn, MusicnnError, checkpoint_dir, load_musicnn
from muzo_lib.models.pretrained.tf_checkpoint import CheckpointFormatError, read_checkpoint, read_index

FIXTURE = Path(__file__).parent / "fixtures" / "musicnn_reference.npz"
VARIANTS = ["MSD_musicnn", "MTT_musicnn"]
OUTPUTS = ["tags", "penultimate", "mean_pool", "max_pool"]


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def nets():
    return {v: load_musicnn(v) for v in VARIANTS}


def relative_error(ours: torch.Tensor, theirs: np.ndarray) -> float:
    """Largest absolute difference relative to the reference's largest magnitude."""
    return float(np.abs(ours.float().numpy() - theirs).max() / np.abs(theirs).max())


# ---------------------------------------------------------------- checkpoint reader

def test_checkpoint_reader_reads_every_tensor_with_its_shape():
    tensors = read_checkpoint(str(checkpoint_dir("MSD_musicnn")) + "/")
    assert len(tensors) == 150  # 64 weights + their two Adam slots each + 2 Adam powers
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert tensors["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert tensors["dense/kernel"].shape == (1506, 200) and tensors["dense_1/bias"].shape == (50,)
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in tensors.values())
    assert (tensors["batch_normalization_9/moving_variance"] > 0).all()


def test_checkpoint_reader_rejects_bad_files_in_one_line(tmp_path):
    folder = checkpoint_dir("MSD_musicnn")
    with pytest.raises(CheckpointFormatError, match="no checkpoint index"):
        read_index(tmp_path / "missing")
    (tmp_path / "bad.index").write_bytes(b"not a table" * 10)
    with pytest.raises(CheckpointFormatError, match="bad table magic"):
        read_index(tmp_path / "bad")
    shutil.copy(folder / ".index", tmp_path / "cut.index")
    (tmp_path / "cut.data-00000-of-00001").write_bytes((folder / ".data-00000-of-00001").read_bytes()[:1000])
    with pytest.raises(CheckpointFormatError, match="runs past the end of the data file"):
        read_checkpoint(tmp_path / "cut")


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown musicnn variant 'GTZAN_musicnn'"):
        load_musicnn("GTZAN_musicnn")


def test_missing_musicnn_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(MusicnnError, match="pip install --no-deps musicnn==0.1.0"):
        checkpoint_dir("MSD_musicnn")


# ---------------------------------------------------------------- parity with TensorFlow

@pytest.mark.parametrize("variant", VARIANTS)
def test_port_matches_tensorflow_musicnn(variant, nets, reference):
    """The straight port gives musicnn's own outputs (TF 2.21, tools/make_musicnn_reference.py) to 1e-4."""
    with torch.no_grad():
        out = nets[variant](torch.from_numpy(reference["input"]))
    for name in OUTPUTS:
        assert relative_error(getattr(out, name), reference[f"{variant}/{name}"]) < 1e-4, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_folded_network_matches_tensorflow_in_float32(variant, nets, reference):
    out = FoldedMusicnn(nets[variant], torch.float32)(torch.from_numpy(reference["input"]))
    for name in OUTPUTS:
        assert relative_error(getattr(out, name), reference[f"{variant}/{name}"]) < 1e-4, name


def test_folded_network_in_bf16_stays_within_the_stated_tolerance(nets, reference):
    """bf16 convolutions move the penultimate layer by a few 1e-2 at most (notebook 05 measures the accuracy cost)."""
    out = FoldedMusicnn(nets["MSD_musicnn"], torch.bfloat16)(torch.from_numpy(reference["input"]))
    assert relative_error(out.penultimate, reference["MSD_musicnn/penultimate"]) < 2e-2
    assert float(np.abs(out.tags.numpy() - reference["MSD_musicnn/tags"]).max()) < 2e-2


def test_folding_handles_negative_batchnorm_scales(nets):
    """max over frequency commutes with a negative batch-norm scale only through the sign trick."""
    net = Musicnn()
    net.load_state_dict(nets["MSD_musicnn"].state_dict())
    with torch.no_grad():
        net.timbral_bn[0].weight[::2] *= -1
        net.temporal_bn[1].weight[::3] *= -1
    x = torch.rand(2, PATCH_FRAMES, 96) * 3
    with torch.no_grad():
        want = net.eval()(x)
    got = FoldedMusicnn(net)(x)
    assert torch.allclose(got.mean_pool, want.mean_pool, atol=1e-4, rtol=1e-4)
    assert torch.allclose(got.penultimate, want.penultimate, atol=1e-4, rtol=1e-4)


def test_network_rejects_wrong_input_shapes(nets):
    with pytest.raises(ValueError, match=r"\(patches, frames, 96\)"):
        nets["MSD_musicnn"](torch.zeros(2, 96, 187, 1))


# ---------------------------------------------------------------- embeddings

def test_input_is_float32_log_compressed_mel_like_musicnn_without_the_float16_overflow():
    y = tone(6.0, sr=16000, seed=1) * 3.0   # loud: musicnn's float16 cast would overflow to inf here
    patches = Embedder(EmbeddingConfig(precision="float32")).patches(y)
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96, pad_mode="constant")
    want = np.log10(10000 * mel.T + 1)
    assert patches.shape == (2, PATCH_FRAMES, 96) and torch.isfinite(patches).all()
    assert np.abs(patches.numpy().reshape(-1, 96) - want[:2 * PATCH_FRAMES]).max() < 1e-3 * want.max()
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.log10(10000 * mel.T.astype(np.float16) + 1)).all()


def test_embed_returns_patches_track_vectors_and_tag_names():
    out = embed(tone(7.0, sr=16000), EmbeddingConfig(precision="float32"))
    assert out["penultimate"].shape == (2, 200) and out["tags"].shape == (2, 50)   # 7 s -> two 3 s patches
    assert out["track_penultimate"].shape == (200,) and out["track_pooled"].shape == (1506,)
    np.testing.assert_allclose(out["track_tags"], out["tags"].mean(0), rtol=1e-6)
    assert out["tag_names"] == list(MSD_LABELS) and out["patch_seconds"] == pytest.approx(2.992, abs=1e-3)
    assert ((out["tags"] > 0) & (out["tags"] < 1)).all()


def test_short_clips_are_padded_to_one_patch_and_bad_input_is_refused():
    embedder = Embedder(EmbeddingConfig(precision="float32"))
    assert embedder.patches(tone(0.5, sr=16000)).shape == (1, PATCH_FRAMES, 96)
    with pytest.raises(ValueError, match="NaN or infinite"):
        embedder.patches(np.full(16000, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="one mono waveform"):
        embedder.patches(np.zeros((2, 16000), dtype=np.float32))


def test_embedding_cache_is_keyed_and_warm_loads_skip_the_network(tmp_path, monkeypatch):
    good = write(tmp_path / "audio" / "a.wav", tone(4.0, sr=16000), sr=16000)
    broken = tmp_path / "audio" / "broken.wav"
    broken.write_bytes(b"RIFF garbage")
    cache = EmbeddingCache(tmp_path / "cache", EmbeddingConfig(precision="float32"))
    outputs, errors = cache.build([good, broken], progress=False)
    assert list(outputs) == [str(good)] and list(errors) == [str(broken)] and "\n" not in errors[str(broken)]
    assert outputs[str(good)]["penultimate"].shape == (1, 200)
    warm = EmbeddingCache(tmp_path / "cache", EmbeddingConfig(precision="float32"))
    monkeypatch.setattr(Embedder, "run", lambda *a: pytest.fail("a warm cache must not run the network"))
    again, _ = warm.build([good], progress=False)
    np.testing.assert_array_equal(again[str(good)]["penultimate"], outputs[str(good)]["penultimate"])
    keys = {EmbeddingConfig(precision="float32").key(), EmbeddingConfig(precision="bf16").key(),
            EmbeddingConfig("MTT_musicnn", precision="float32").key(),
            EmbeddingConfig(precision="float32", duration=10.0).key()}
    assert len(keys) == 4


def test_embedding_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="precision"):
        EmbeddingConfig(precision="fp8")
    with pytest.raises(ValueError, match="duration"):
        EmbeddingConfig(duration=0)


def test_track_features_average_patches_per_layer():
    outputs = {"penultimate": np.ones((3, 200)), "mean_pool": np.zeros((3, 753)), "max_pool": np.ones((3, 753)),
               "tags": np.full((3, 50), 0.5)}
    assert track_features(outputs, "pooled").shape == (1506,) and track_features(outputs, "tags")[0] == 0.5
    with pytest.raises(ValueError, match="unknown embedding layer"):
        track_features(outputs, "logits")


# ---------------------------------------------------------------- classifier, files, predictor

def separable(n_per_class=8, dims=20, classes=("jazz", "rock", "pop"), seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(3 * i, 1.0, (n_per_class, dims)) for i in range(len(classes))])
    return X, np.repeat(list(classes), n_per_class)


@pytest.mark.parametrize("head", ["logreg", "mlp"])
def test_classifier_learns_and_round_trips_through_a_skops_file(tmp_path, head):
    X, y = separable()
    model = EmbeddingClassifier(head=head, max_iter=500).fit(X, y)
    assert (model.predict(X) == y).mean() == 1.0 and list(model.classes_) == ["jazz", "pop", "rock"]
    assert model.n_learned_weights == {"logreg": 3 * 20 + 3, "mlp": 20 * 256 + 256 + 256 * 3 + 3}[head]
    path = model.save_model(tmp_path / "m.skops")
    loaded = EmbeddingClassifier.load_model(path)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.layer == "penultimate" and loaded.variant == "MSD_musicnn" and is_embedding_model(path)
    with pytest.raises(ValueError, match="takes 20-dim"):
        loaded.predict_proba(X[:, :5])


def test_loading_refuses_other_files_in_one_line(tmp_path):
    import skops.io as sio

    from muzo_lib.models.forest import MusicGenreClassifier

    text = tmp_path / "notes.skops"
    text.write_text("hello")
    with pytest.raises(EmbeddingModelError, match="not a skops file"):
        EmbeddingClassifier.load_model(text)
    forest = MusicGenreClassifier(n_estimators=3).fit(pd.DataFrame(separable()[0][:, :3], columns=list("abc")),
                                                      separable()[1])
    forest_path = forest.save_model(tmp_path / "rf.skops")
    with pytest.raises(EmbeddingModelError, match="never holds"):
        EmbeddingClassifier.load_model(forest_path)
    assert not is_embedding_model(forest_path) and not is_embedding_model(text)
    other = tmp_path / "other.skops"
    sio.dump({"format": "something else"}, other)
    with pytest.raises(EmbeddingModelError, match="not a Muzo embedding classifier"):
        EmbeddingClassifier.load_model(other)


def test_predictor_has_the_prediction_interface_and_scores_waveforms(tmp_path):
    config = EmbeddingConfig(precision="float32")
    embedder = Embedder(config)
    waves = [tone(3.5, sr=16000, freq=f, seed=i) for i, f in enumerate([110, 130, 880, 990])]
    X = np.stack([track_features(embedder(w)) for w in waves])
    model = EmbeddingClassifier(precision="float32").fit(X, ["low", "low", "high", "high"])
    path = model.save_model(tmp_path / "musicnn.skops")
    predictor = EmbeddingPredictor(path)
    assert predictor.kind == "musicnn" and predictor.sample_rate == 16000 and predictor.classes == ["high", "low"]
    assert predictor.path == path and predictor.name == "musicnn"
    probs = predictor.predict_waveforms(waves)
    assert probs.shape == (4, 2) and np.allclose(probs.sum(1), 1)
    assert list(np.array(predictor.classes)[probs.argmax(1)]) == ["low", "low", "high", "high"]
    np.testing.assert_allclose(predictor.predict_prepared([predictor.prepare(w) for w in waves]), probs)
    assert predictor.predict_prepared([]).shape == (0, 2)


# ---------------------------------------------------------------- runs and cross-validation

def fake_run(tmp_path, n_per_genre=6):
    from muzo_lib.data.runs import prepare_run

    tiny_dataset(tmp_path / "data", per_genre=n_per_genre, seconds=3.5)
    return prepare_run(tmp_path / "data", tmp_path / "run")


def test_train_embedding_model_writes_model_and_metrics_with_the_common_keys(tmp_path):
    run = fake_run(tmp_path)
    rng = np.random.default_rng(0)
    centres = {g: rng.normal(0, 5, 16) for g in run.classes}
    X = np.stack([centres[g] + rng.normal(0, 0.5, 16) for g in run.tracks.genre])
    result = train_embedding_model(run, features=X, config=EmbeddingConfig(precision="float32"))
    metrics = json.loads((run.run_dir / "metrics" / "musicnn.json").read_text())
    assert metrics["accuracy"] == 100.0 and metrics["n"] == int((run.tracks.split == "test").sum())
    assert {"accuracy", "macro_f1", "n", "accuracy_interval", "classes", "split", "level"} <= set(metrics)
    assert metrics["accuracy_interval"][0] <= metrics["accuracy"] <= metrics["accuracy_interval"][1]
    assert metrics["architecture"] == "musicnn"
    assert result["model_path"] == run.run_dir / "models" / "musicnn.skops" and is_embedding_model(result["model_path"])


def test_cv_folds_are_stratified_and_can_keep_artists_together():
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(30)], "genre": np.repeat(["a", "b", "c"], 10),
                           "artist": [f"art{i // 3}" for i in range(30)]})
    fold = cv_folds(tracks, folds=5)
    assert sorted(np.bincount(fold)) == [6] * 5
    assert all(np.bincount(pd.factorize(tracks.genre[fold == k])[0]).tolist() == [2, 2, 2] for k in range(5))
    grouped = cv_folds(tracks, folds=5, group_by="artist")
    assert all(len(set(grouped[tracks.artist == a])) == 1 for a in tracks.artist.unique())
    with pytest.raises(ValueError, match="k=31"):
        cv_folds(tracks, folds=31)


def test_cross_validation_never_predicts_a_track_with_a_model_that_saw_it():
    """A 1-nearest-neighbour memoriser scores 100% on its training rows; on random labels out-of-fold is near chance."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    genres = np.repeat(["a", "b", "c"], 20)
    rng.shuffle(genres)
    tracks = pd.DataFrame({"track_id": range(60), "genre": genres, "artist": ""})
    result = cross_validate(X, genres, ["a", "b", "c"], cv_folds(tracks, 5), KNeighborsClassifier(1))
    assert result.n == 60 and result.accuracy < 60
    assert result.probabilities.shape == (60, 3) and len(result.fold_accuracy) == 5


# ---------------------------------------------------------------- baselines on the same folds

def test_network_and_embedding_cross_validations_return_one_result_on_the_same_folds(tmp_path):
    from muzo_lib.course.members import cross_validate as cross_validate_run
    from muzo_lib.course.transfer_experiments import handmade_baseline
    from muzo_lib.evaluation.metrics import CVResult
    from muzo_lib.features.spectrogram import MelConfig
    from muzo_lib.training.loop import TrainConfig

    run = fake_run(tmp_path, n_per_genre=4)
    fold = cv_folds(run.tracks, 2)
    config = TrainConfig(epochs=1, crops_per_track=1, batch_size=8, progress=False, verbose=False)
    network = cross_validate_run(run, "cnn", mel_config=MelConfig(n_mels=32), train_config=config, progress=False,
                                 folds=fold)
    X = np.random.default_rng(0).normal(size=(len(run.tracks), 4))
    table = cross_validate(X, run.tracks.genre, run.classes, fold, KNeighborsClassifier(1), "knn", run.tracks.track_id)
    assert isinstance(network, CVResult) and isinstance(table, CVResult)
    assert network.n == table.n == len(run.tracks) and network.k == table.k == 2
    np.testing.assert_allclose(network.probabilities.sum(1), 1.0, rtol=1e-4)
    lined_up = network.aligned(run.tracks.track_id)        # rows track by track, to pair with `table`
    assert list(lined_up.track_ids) == list(table.track_ids)
    assert list(lined_up.fold) == list(fold) and list(lined_up.genres) == list(run.tracks.genre)
    assert set(network.to_dict()) == set(table.to_dict())
    with pytest.raises(ValueError, match="unknown baseline"):
        handmade_baseline("svm")


def test_package_exports_resolve():
    import muzo_lib.models.pretrained as pretrained

    assert all(getattr(pretrained, name) is not None for name in pretrained.__all__)
    with pytest.raises(AttributeError):
        pretrained.no_such_name


@pytest.mark.parametrize("head", HEADS)
def test_a_dead_embedding_unit_is_not_standardised_into_noise(head):
    """A unit that is a constant plus float32 round-off (a dead musicnn channel) must not steer the
    classifier: moving it by round-off-sized amounts, as another backend's kernels do, changes no
    probability (without the guard its 1e-10 spread became unit variance and moved them by 0.045)."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (12, 6))
    X[:, 0] = -2.3771e-6 + rng.normal(0, 1e-10, 12)     # dead: constant up to round-off
    y = np.where(X[:, 1] > 0, "high", "low")
    clf = EmbeddingClassifier(head=head, max_iter=300).fit(X, y)
    assert clf.pipeline_[0].scale_[0] == 1.0 and clf.pipeline_[0].scale_[1] != 1.0
    jiggled = X.copy()
    jiggled[:, 0] += rng.normal(0, 1e-10, 12)
    assert np.abs(clf.predict_proba(jiggled) - clf.predict_proba(X)).max() < 1e-8
