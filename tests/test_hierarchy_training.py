"""Two-level networks through the one training engine, saved, loaded and predicted."""
from __future__ import annotations

import numpy as np
import pytest

from muzo_lib.course.members import forest_leaf_probabilities, leaf_run, member_probabilities, train_member, train_on_run
from muzo_lib.data.runs import prepare_run
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.inference.prediction import expand_inputs, load_model, predict_files
from muzo_lib.training.checkpoints import load_checkpoint
from muzo_lib.training.loop import TrainConfig
from tests.helpers import tiny_dataset, tiny_two_level_dataset

pytestmark = pytest.mark.slow  # trains networks and a forest (~70 s on 2 loaded cores)

MEL = MelConfig(n_mels=32)
FAST = dict(epochs=6, segment_seconds=1.0, crops_per_track=3, batch_size=8, learning_rate=3e-3, progress=False,
            verbose=False, device="cpu", early_stopping_patience=20, monitor="val_acc")


@pytest.fixture(scope="module")
def two_level(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-level")
    run = prepare_run(tiny_two_level_dataset(root / "data", per_subgenre=4), root / "run", seed=0,
                      split_strategy="track", valid_size=0.25, test_size=0.25)
    out = train_on_run(run, "cnn2", "cnn", MEL, TrainConfig(**FAST), model_options={"channels": (8, 8, 16, 16)},
                       seed=0, levels="both")
    return run, out


def test_two_heads_train_through_fit_and_the_file_carries_the_class_tree(two_level):
    run, out = two_level
    ckpt = load_checkpoint(out.checkpoint_path)
    assert ckpt.classes == ["jazz", "pop", "rock", "jazz/classic", "jazz/swing", "rock/classic", "rock/punk"]
    assert ckpt.extra["class_tree"]["subgenres"] == ckpt.classes[3:] and ckpt.extra["subgenre_weight"] == 1.0
    history = out.training.history
    assert history["train_loss"][-1] < history["train_loss"][0]  # the two-level loss goes down
    levels = out.record["levels"]
    assert set(levels["decoders"]) == {"independent", "marginal", "top-down"} and levels["decoder"] == "top-down"
    top = levels["decoders"]["top-down"]["scores"]
    assert top["genre"]["value"] == pytest.approx(out.record["accuracy"])  # top-down keeps the genre head's answer
    assert top["genre"]["n"] == len(run.subset("test")) and top["subgenre"]["n"] == (run.subset("test").subgenre != "").sum()


def test_prediction_is_consistent_and_genre_level_callers_see_genres(two_level):
    run, out = two_level
    model = load_model(out.checkpoint_path, device="cpu")
    assert model.classes == ["jazz", "pop", "rock"] and len(model.tree.subgenres) == 4
    results = predict_files(model, expand_inputs([run.data_dir]), top_k=2, progress=False)
    assert all(r.ok for r in results)
    for r in results:
        if r.genre == "pop":
            assert r.subgenre is None and r.subgenre_top_k is None
        else:
            assert f"{r.genre}/{r.subgenre}" in model.tree.subgenres and 0.5 <= r.subgenre_confidence <= 1
            assert [s for s, _ in r.subgenre_top_k][0] == r.subgenre
    logmels = run.logmels(MEL, progress=False)
    probs = model.predict_logmels([logmels[t] for t in run.tracks.track_id[:3]])
    assert probs.shape == (3, 3) and probs.sum(axis=1) == pytest.approx([1, 1, 1])


def test_genre_only_models_are_unchanged_and_levels_need_subgenres(tmp_path):
    run = prepare_run(tiny_dataset(tmp_path / "flat", per_genre=4), tmp_path / "run", split_strategy="track")
    with pytest.raises(ValueError, match="needs subgenres"):
        train_on_run(run, "x", "cnn", MEL, TrainConfig(**{**FAST, "epochs": 1}), levels="both")
    out = train_on_run(run, "flat", "cnn", MEL, TrainConfig(**{**FAST, "epochs": 1}), model_options={"channels": (4, 4, 4, 4)})
    model = load_model(out.checkpoint_path, device="cpu")
    assert model.tree is None and "levels" not in out.record
    result = predict_files(model, expand_inputs([run.data_dir / "rock"]), progress=False)[0]
    assert result.subgenre is None and result.to_dict()["subgenre_confidence"] is None


def test_the_forest_learns_both_levels(two_level, tmp_path):
    run, _ = two_level
    out = train_member(run, "rf", path=tmp_path / "rf.skops", rf_params={"n_estimators": 20}, progress=False,
                       levels="both")
    model = load_model(out["path"])
    assert model.classes == ["jazz", "pop", "rock"] and model.tree.subgenres[0] == "jazz/classic"
    assert out["levels"]["decoder"] == "marginal" and out["levels"]["decoders"]["marginal"]["scores"]["genre"]["n"] > 0
    for r in predict_files(model, expand_inputs([run.data_dir / "rock"]), progress=False):
        assert r.subgenre is None if r.genre == "pop" else f"{r.genre}/{r.subgenre}" in model.tree.subgenres


def test_a_flat_forest_gives_its_subgenre_probabilities_which_member_probabilities_sums_per_genre(two_level, tmp_path):
    run, _ = two_level
    flat = leaf_run(run)
    out = train_member(flat, "rf", path=tmp_path / "flat.skops", rf_params={"n_estimators": 20}, progress=False)
    ids = list(run.subset("test").track_id)[::-1]  # any order: rows follow the ids given
    probs, leaves = forest_leaf_probabilities(flat, out["path"], ids)
    assert leaves == flat.classes and probs.shape == (len(ids), len(leaves))
    by_genre = member_probabilities(run, {"rf": load_model(out["path"])}, "test")["rf"]  # rows: run.subset order
    summed = np.stack([probs[:, [i for i, c in enumerate(leaves) if c.split("/")[0] == g]].sum(axis=1)
                       for g in run.classes], axis=1)
    assert summed[::-1] == pytest.approx(by_genre)
    with pytest.raises(ValueError, match="no features"):
        forest_leaf_probabilities(flat, out["path"], ["not-a-track"])


def test_the_seed_api_loads_a_two_level_file_and_reports_the_subgenre(two_level, tmp_path):
    from muzo_lib.course.classifiers import CNNMusicClassifier

    run, out = two_level
    classifier = CNNMusicClassifier(verbose=False, device="cpu").load_model(out.checkpoint_path)
    assert classifier.classes_ == ["jazz", "pop", "rock"]
    path = str(run.subset("test").path.iloc[0])
    predicted = classifier.predict(path)["predictions"]
    if predicted["predicted_genre"] == "pop":
        assert "predicted_subgenre" not in predicted
    else:
        assert f"{predicted['predicted_genre']}/{predicted['predicted_subgenre']}" in classifier.class_tree_["subgenres"]
    again = CNNMusicClassifier(verbose=False, device="cpu").load_model(classifier.save_model(tmp_path / "copy.pth"))
    assert again.predict(path)["predictions"] == predicted
    assert classifier.predict_proba([path]).shape == (1, 3)


def test_the_hybrid_trains_both_levels_through_the_same_engine(two_level):
    run, _ = two_level
    out = train_on_run(run, "hybrid2", "hybrid", MEL, TrainConfig(**{**FAST, "epochs": 1}), seed=0, levels="both",
                       subgenre_weight=0.5, model_options={"channels": (4, 4, 8), "rnn_hidden": 8, "dense": 8})
    model = load_model(out.checkpoint_path, device="cpu")
    assert model.kind == "hybrid" and model.tree.subgenres == ("jazz/classic", "jazz/swing", "rock/classic", "rock/punk")
    assert out.record["levels"]["subgenre_weight"] == 0.5
    result = predict_files(model, expand_inputs([run.data_dir / "jazz" / "swing"]), progress=False)[0]
    assert result.subgenre is None if result.genre == "pop" else result.subgenre in {"classic", "swing", "punk"}


def test_a_live_stream_reports_the_subgenre_of_a_two_level_model(two_level):
    import numpy as np

    from muzo_lib.inference.streaming import StreamingClassifier
    from muzo_lib.io.audio import load_audio

    run, out = two_level
    model = load_model(out.checkpoint_path, device="cpu")
    # a file the (tiny) model places in a genre that has subgenres: the stream must then name one
    files = predict_files(model, run.tracks[run.tracks.subgenre != ""].path.tolist(), progress=False)
    y = load_audio(next(p.path for p in files if p.subgenre is not None), 22050)
    updates = list(StreamingClassifier(model, input_rate=22050, window_seconds=2.0, hop_seconds=1.0).run(
        np.array_split(y, 8)))
    assert updates and all(u["subgenre"] is None or f"{u['genre']}/{u['subgenre']}" in model.tree.subgenres
                           for u in updates)
    assert any(u["subgenre"] is not None for u in updates)


def test_a_trained_two_level_network_exports_to_onnx_and_predicts_the_same(two_level, tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np

    from muzo_lib.inference.export import export_onnx
    from muzo_lib.inference.prediction import NetworkPredictor

    run, out = two_level
    path = export_onnx(out.checkpoint_path, tmp_path / "m.onnx")
    onnx_model = load_model(path)
    torch_model = NetworkPredictor(load_checkpoint(out.checkpoint_path), device="cpu", precision=False)
    assert onnx_model.tree == torch_model.tree and onnx_model.decoder == torch_model.decoder
    files = list(run.tracks.path[:6])
    got, expected = predict_files(onnx_model, files, progress=False), predict_files(torch_model, files, progress=False)
    for a, b in zip(got, expected):
        assert (a.genre, a.subgenre) == (b.genre, b.subgenre)
        assert np.abs(np.array(list(a.probabilities.values())) - np.array(list(b.probabilities.values()))).max() <= 1e-4
        assert a.subgenre is None or abs(a.subgenre_confidence - b.subgenre_confidence) <= 1e-4
    assert any(r.subgenre for r in got)
