"""Loading any saved model, batch prediction with bad files, genre over time, latency helpers."""
import numpy as np
import pytest
import torch

from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.inference.prediction import (
    ForestPredictor,
    ModelLoadError,
    NetworkPredictor,
    expand_inputs,
    genre_over_time,
    load_model,
    predict_files,
    results_table,
)
from muzo_lib.io.timing import measure_latency
from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
from muzo_lib.training.checkpoints import save_checkpoint
from tests.helpers import tone, write

CLASSES = ["jazz", "pop", "rock"]
MEL = MelConfig(n_mels=32)


@pytest.fixture(scope="module")
def cnn_path(tmp_path_factory):
    torch.manual_seed(0)
    model = SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 4, 8, 8), hidden=8)).eval()
    return save_checkpoint(tmp_path_factory.mktemp("m") / "cnn.pt", model, MEL, CLASSES, segment_seconds=1.0)


@pytest.fixture(scope="module")
def hybrid_path(tmp_path_factory):
    torch.manual_seed(0)
    model = HybridCNNRNN(HybridConfig(n_classes=3, n_mels=32, channels=(4, 4, 8), rnn_hidden=8, dense=8)).eval()
    return save_checkpoint(tmp_path_factory.mktemp("m") / "hybrid.pt", model, MEL, CLASSES, segment_seconds=1.0)


@pytest.fixture
def folder(tmp_path):
    write(tmp_path / "music" / "a.wav", tone(3.0, freq=220))
    write(tmp_path / "music" / "sub" / "b.flac", tone(2.5, freq=440, channels=2))
    write(tmp_path / "music" / "c.wav", tone(0.6, freq=330))           # shorter than one segment
    (tmp_path / "music" / "broken.wav").write_bytes(b"RIFF not really")
    (tmp_path / "music" / "readme.txt").write_text("not audio, not listed")
    return tmp_path / "music"


def test_expand_inputs_lists_audio_recursively_keeps_explicit_files_and_rejects_missing(folder):
    names = [p.name for p in expand_inputs([folder])]
    assert names == ["a.wav", "broken.wav", "c.wav", "b.flac"]
    assert [p.name for p in expand_inputs([folder / "readme.txt"])] == ["readme.txt"]
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        expand_inputs([folder / "nope.wav"])


def test_load_model_opens_checkpoints_and_refuses_other_files(cnn_path, tmp_path):
    model = load_model(cnn_path, device="cpu")
    assert isinstance(model, NetworkPredictor) and model.kind == "cnn" and model.classes == CLASSES
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelLoadError, match="not a Muzo checkpoint"):
        load_model(junk)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    fake_skops = tmp_path / "model.skops"
    fake_skops.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a Muzo Random Forest model"):
        load_model(fake_skops)


def test_predict_files_reports_bad_files_per_file_and_keeps_order(cnn_path, folder):
    model = load_model(cnn_path, device="cpu")
    files = expand_inputs([folder])
    results = predict_files(model, files, top_k=2, batch_files=2, progress=False)
    assert [r.path for r in results] == [str(f) for f in files]
    bad = [r for r in results if not r.ok]
    assert [r.path.endswith("broken.wav") for r in bad] == [True] and bad[0].genre is None
    for r in results:
        if r.error is None:
            assert r.genre in CLASSES and len(r.top_k) == 2
            assert r.confidence == max(r.probabilities.values()) == r.top_k[0][1]
            assert sum(r.probabilities.values()) == pytest.approx(1, abs=1e-5)
    # batching several files together gives the same numbers as one file at a time
    single = predict_files(model, files, top_k=2, batch_files=1, n_threads=1, progress=False)
    for a, b in zip(results, single):
        if a.error is None:
            assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
    table = results_table(results)
    assert list(table.file) == [f.name for f in files] and table.error.str.len().gt(0).sum() == 1


def test_predict_files_matches_scoring_the_log_mel_directly(cnn_path, folder):
    from muzo_lib.io.audio import load_audio

    model = load_model(cnn_path, device="cpu")
    result = predict_files(model, [folder / "a.wav"], progress=False)[0]
    direct = model.predict_logmels([model.logmel(load_audio(folder / "a.wav", 22050))])[0]
    assert [result.probabilities[c] for c in CLASSES] == pytest.approx(direct.tolist(), abs=1e-5)
    with pytest.raises(ValueError, match="top_k"):
        predict_files(model, [folder / "a.wav"], top_k=0)


def test_forest_files_load_and_predict(tmp_path, folder):
    from muzo_lib.features.handmade import AudioFeatureExtractor
    from muzo_lib.models.forest import MusicGenreClassifier

    extractor = AudioFeatureExtractor(extras=False)
    rows = [extractor.extract_all_features(tone(2.0, freq=f, seed=i), 22050) for i, f in enumerate([200, 300, 400, 500, 600, 700])]
    import pandas as pd
    rf = MusicGenreClassifier(n_estimators=10, random_state=0, n_jobs=1).fit(pd.DataFrame(rows), ["jazz", "rock"] * 3)
    path = rf.save_model(tmp_path / "rf.skops")
    model = load_model(path)
    assert isinstance(model, ForestPredictor) and model.kind == "rf" and model.extractor.extras is False
    results = predict_files(model, [folder / "a.wav", folder / "broken.wav"], progress=False)
    assert results[0].genre in ("jazz", "rock") and results[1].error


def test_genre_over_time_windows(cnn_path):
    model = load_model(cnn_path, device="cpu")
    y = np.concatenate([tone(4.0, freq=220), tone(4.0, freq=880)])
    timeline = genre_over_time(model, y, window_seconds=2.0, hop_seconds=1.0, sample_rate=22050)
    assert list(timeline.start_s) == [0, 1, 2, 3, 4, 5, 6] and timeline.end_s.iloc[-1] == 8.0
    assert np.allclose(timeline[CLASSES].sum(axis=1), 1, atol=1e-5)
    assert (timeline.genre == [CLASSES[i] for i in timeline[CLASSES].to_numpy().argmax(1)]).all()
    short = genre_over_time(model, tone(1.0), window_seconds=2.0, hop_seconds=1.0, sample_rate=22050)
    assert len(short) == 1 and short.end_s.iloc[0] == 1.0
    with pytest.raises(ValueError, match="expects 22050 Hz"):
        genre_over_time(model, y, sample_rate=16000)


def test_attention_weights_of_hybrid_networks_only(hybrid_path, cnn_path):
    model = load_model(hybrid_path, device="cpu")
    logmel = model.logmel(tone(2.5))
    weights, starts = model.attention(logmel)
    assert weights.shape[0] == len(starts) and np.allclose(weights.sum(1), 1, atol=1e-5)
    assert starts[-1] + model.frames <= logmel.shape[-1]
    with pytest.raises(ValueError, match="only for hybrid"):
        load_model(cnn_path, device="cpu").attention(logmel)


def test_measure_latency_counts_only_timed_calls():
    calls = []
    stats = measure_latency(lambda: calls.append(1), repeats=4, warmup=3)
    assert len(calls) == 7 and stats["repeats"] == 4 and 0 <= stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]


def test_prediction_record_gives_the_cli_json_and_the_seed_dict():
    from muzo_lib.models.result import Prediction

    p = Prediction.from_probabilities([0.2, 0.5, 0.3], CLASSES, top_k=2, path="x.wav", seconds=3.0)
    assert (p.genre, p.confidence, p.top_k) == ("pop", 0.5, [("pop", 0.5), ("rock", 0.3)])
    assert p.to_dict() == {"file": "x.wav", "genre": "pop", "confidence": 0.5,
                           "top_k": [{"genre": "pop", "probability": 0.5}, {"genre": "rock", "probability": 0.3}],
                           "probabilities": {"jazz": 0.2, "pop": 0.5, "rock": 0.3}, "seconds": 3.0, "warning": None,
                           "error": None,
                           "subgenre": None, "subgenre_confidence": None, "subgenre_top_k": None}  # genre-only model
    seed = p.to_seed_dict()
    assert seed["predicted_genre"] == "pop" and seed["all_probabilities"] == seed["probabilities"]
    failed = Prediction(path="y.wav", error="not decodable")
    assert not failed.ok and failed.to_dict()["genre"] is None
    with pytest.raises(ValueError, match="not decodable"):
        failed.to_seed_dict()


def test_a_model_trained_on_a_fixed_duration_reads_only_that_much(tmp_path):
    """The crop policy lives in the model file, so every path that predicts reads the same audio."""
    torch.manual_seed(0)
    model = SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 4, 8, 8), hidden=8)).eval()
    whole = load_model(save_checkpoint(tmp_path / "whole.pt", model, MEL, CLASSES, 1.0), device="cpu")
    first = load_model(save_checkpoint(tmp_path / "first.pt", model, MEL, CLASSES, 1.0, extra={"duration": 2.0}),
                       device="cpu")
    song = write(tmp_path / "song.wav", np.concatenate([tone(2.0, freq=220), tone(4.0, freq=1760, seed=3)]))
    assert (whole.duration, first.duration) == (None, 2.0)
    a, b = predict_files(whole, [song], progress=False)[0], predict_files(first, [song], progress=False)[0]
    assert (a.seconds, b.seconds) == (6.0, 2.0)
    assert a.probabilities != pytest.approx(b.probabilities, abs=1e-6)


# ---------------------------------------------------------------- reliability (issue 10)

@pytest.mark.parametrize("signal, warning", [
    (np.zeros(22050 * 3, dtype=np.float32), "silent"),
    (np.full(22050 * 3, 0.5, dtype=np.float32), "no signal (DC only)"),
    (tone(0.05), "too short: 0.05 s"),
])
def test_audio_without_signal_gets_a_warning_and_no_confident_genre(cnn_path, tmp_path, signal, warning):
    model = load_model(cnn_path, device="cpu")
    bad = write(tmp_path / "bad.wav", signal)
    good = write(tmp_path / "good.wav", tone(3.0, freq=220))
    r_bad, r_good = predict_files(model, [bad, good], progress=False)
    assert r_bad.warning == warning and r_bad.error is None and r_bad.genre is None
    assert r_bad.confidence == pytest.approx(1 / len(CLASSES)) and r_bad.top_k == []
    assert list(r_bad.probabilities.values()) == pytest.approx([1 / len(CLASSES)] * len(CLASSES))
    assert r_good.warning is None and r_good.genre in CLASSES
    assert results_table([r_bad, r_good]).genre.tolist()[0] == f"({warning})"


def test_huge_samples_are_a_per_file_error_not_a_nan(cnn_path, tmp_path):
    model = load_model(cnn_path, device="cpu")
    y = tone(3.0)
    y[5000] = 1e20
    huge = write(tmp_path / "huge.wav", y, subtype="FLOAT")
    good = write(tmp_path / "good.wav", tone(3.0, freq=220))
    r_huge, r_good = predict_files(model, [huge, good], progress=False)
    assert "absurd sample values" in r_huge.error
    assert r_good == predict_files(model, [good], progress=False)[0]


def test_long_files_are_scored_on_the_models_excerpt(cnn_path, tmp_path):
    model = load_model(cnn_path, device="cpu")
    path = write(tmp_path / "long.wav", np.concatenate([tone(4.0, freq=220), tone(2.0, freq=880), tone(4.0, freq=220)]))
    model.max_seconds = 2.0
    capped = predict_files(model, [path], progress=False)[0]
    assert capped.seconds == pytest.approx(2.0)
    direct = model.predict_logmels([model.logmel(load_audio_excerpt(path, 4.0, 2.0))])[0]
    assert [capped.probabilities[c] for c in CLASSES] == pytest.approx(direct.tolist(), abs=1e-5)
    assert predict_files(model, [path], progress=False, max_seconds=None)[0].seconds == pytest.approx(10.0)


def load_audio_excerpt(path, offset, seconds):
    from muzo_lib.io.audio import load_audio

    return load_audio(path, 22050, offset=offset, duration=seconds)


def test_model_kind_is_read_from_content_not_name(cnn_path, tmp_path):
    import shutil

    renamed = shutil.copy(cnn_path, tmp_path / "actually_a_network.skops")
    assert isinstance(load_model(renamed, device="cpu"), NetworkPredictor)


def test_a_relative_model_path_is_taken_from_the_current_directory(tmp_path, monkeypatch):
    """What load_model's docstring says: the current directory, not the project root."""
    from muzo_lib.inference.prediction import ModelLoadError, load_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.pt").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):                      # found here (and refused), not "no such file"
        load_model("here.pt")
