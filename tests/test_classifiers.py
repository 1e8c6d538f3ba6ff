"""The seed's API: its README examples run as written (``src.`` -> ``muzo_lib.``, tiny
settings), plus saving, loading, prediction of good and bad files, and train_on_run."""
import json

import numpy as np
import pytest
from helpers import accuracy_of, tiny_dataset

from muzo_lib.course.classifiers import CNNMusicClassifier, train_cnn_music_model
from muzo_lib.course.members import train_on_run
from muzo_lib.io.audio import AudioDecodeError
from muzo_lib.training.checkpoints import CheckpointError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tiny_dataset(tmp_path_factory.mktemp("tiny") / "data", genres=("rock", "jazz", "electronic"),
                        per_genre=4, seconds=4.0)
    files = sorted(str(p) for p in root.glob("*/*.wav"))
    return files, [p.split("/")[-2] for p in files]


@pytest.fixture(scope="module")
def trained(dataset):
    """The seed README's examples, as the README shows them (only num_epochs made tiny)."""
    audio_files, labels = dataset

    # --- "1. Basic CNN Training"
    from muzo_lib.cnn_model_training import train_cnn_music_model

    results = train_cnn_music_model(
        audio_files=audio_files,
        labels=labels,
        model_name="my-cnn-v1.0",
        architecture="cnn",
        num_epochs=2,
        learning_rate=0.001
    )

    print(f"Validation accuracy: {results['final_val_acc']:.2f}%")

    # --- "2. Hybrid CNN-RNN Training"
    hybrid_results = train_cnn_music_model(
        audio_files=audio_files,
        labels=labels,
        model_name="my-hybrid-v1.0",
        architecture="hybrid",  # Use CNN-RNN hybrid
        num_epochs=2
    )
    return results, hybrid_results


def test_readme_training_examples_return_the_seed_results(trained):
    for results, architecture in zip(trained, ("cnn", "hybrid")):
        assert results["architecture"] == architecture
        assert results["final_val_acc"] == results["val_accuracies"][-1]
        assert results["best_val_acc"] == results["val_accuracies"][results["best_epoch"] - 1]
        assert results["max_val_acc"] == max(results["val_accuracies"]) >= results["best_val_acc"]
        assert results["num_epochs_trained"] == len(results["history"]["val_acc"]) == 2
        assert results["model_path"].endswith(f"my-{architecture}-v1.0.pth")
        assert results["classes"] == ["electronic", "jazz", "rock"] and results["training_time"] > 0


def test_the_seed_results_headline_the_kept_models_accuracy(dataset, tmp_path, monkeypatch):
    """Validation loss picks epoch 3 while accuracy peaked at epoch 2: ``best_val_acc`` is the
    kept model's (30), not the peak (40), which ``max_val_acc`` reports."""
    from muzo_lib.training import loop as training

    scores, real_evaluate = iter([(1.0, 20.0), (0.9, 40.0), (0.8, 30.0)]), training.evaluate

    def scripted(*args, **kwargs):
        loss, acc = next(scores)
        return {**real_evaluate(*args, **kwargs), "loss": loss, "accuracy": acc}

    monkeypatch.setattr(training, "evaluate", scripted)     # fit's validation only; the final scoring is real
    audio_files, labels = dataset
    results = train_cnn_music_model(audio_files=audio_files, labels=labels, model_name="kept", num_epochs=3,
                                    output_dir=tmp_path, verbose=False, crops_per_track=1)
    assert results["best_epoch"] == 3 and results["val_accuracies"] == [20.0, 40.0, 30.0]
    assert results["best_val_acc"] == 30.0 and results["max_val_acc"] == 40.0


def test_readme_prediction_examples(trained, dataset, capsys):
    audio_files, labels = dataset
    # --- "3. Making Predictions"
    from muzo_lib.cnn_model_training import CNNMusicClassifier

    # Load trained model
    classifier = CNNMusicClassifier()
    classifier.load_model("models/my-cnn-v1.0.pth")

    # Predict on new audio
    result = classifier.predict(audio_files[0])
    print(f"Predicted genre: {result['predictions']['predicted_genre']}")
    print(f"Confidence: {result['predictions']['confidence']:.3f}")

    # --- "Batch Prediction"
    results = classifier.predict(audio_files[:3])

    for i, prediction in enumerate(results['predictions']):
        print(f"File {i+1}: {prediction['predicted_genre']} ({prediction['confidence']:.3f})")

    out = capsys.readouterr().out
    assert "Predicted genre: " in out and "File 3: " in out
    assert classifier.genre_classes == ["electronic", "jazz", "rock"]
    probs = result["predictions"]["probabilities"]
    assert set(probs) == set(classifier.classes_) and abs(sum(probs.values()) - 1) < 1e-4
    assert result["predictions"]["confidence"] == max(probs.values())


def test_readme_advanced_usage_custom_classifier_and_training(dataset):
    audio_files, labels = dataset
    # --- "Custom Model Architecture" (device "cuda" in the README; here the machine's own)
    classifier = CNNMusicClassifier(
        model_name="custom-model",
        architecture="hybrid",
        sample_rate=16000,  # another sample rate
        duration=3.0,       # shorter audio
        n_mels=64,          # fewer mel bands
        device=None
    )
    # --- "Training with Custom Parameters"
    results = classifier.train(
        audio_files=audio_files,
        labels=labels,
        num_epochs=1,
        learning_rate=0.0001,           # Lower learning rate
        validation_split=0.25,          # Less validation data
        early_stopping_patience=15,     # More patience
        save_best_model=True           # Save best model
    )
    assert results["validation_samples"] == 3 and results["num_epochs_trained"] == 1
    reloaded = CNNMusicClassifier().load_model(results["model_path"])
    assert (reloaded.architecture, reloaded.sample_rate, reloaded.n_mels, reloaded.duration) == ("hybrid", 16000, 64, 3.0)
    assert np.allclose(reloaded.predict_proba(audio_files[:2]), classifier.predict_proba(audio_files[:2]), atol=1e-5)


def test_batch_prediction_reports_bad_files_per_file(trained, dataset, tmp_path):
    audio_files, _ = dataset
    bad = tmp_path / "broken.wav"; bad.write_text("not audio")
    classifier = CNNMusicClassifier().load_model("models/my-cnn-v1.0.pth")
    out = classifier.predict([audio_files[0], str(bad), str(tmp_path / "missing.mp3")])["predictions"]
    assert "predicted_genre" in out[0]
    assert out[1]["file"] == str(bad) and "not decodable" in out[1]["error"]
    assert "no such file" in out[2]["error"]
    with pytest.raises(AudioDecodeError):
        classifier.predict(str(bad))


def test_save_and_load_round_trip_gives_the_same_probabilities(trained, dataset, tmp_path):
    audio_files, _ = dataset
    first = CNNMusicClassifier().load_model("models/my-hybrid-v1.0.pth")
    path = first.save_model(tmp_path / "copy.pth")
    second = CNNMusicClassifier().load_model(path)
    assert second.architecture == "hybrid" and second.model_name == "my-hybrid-v1.0"
    assert np.allclose(first.predict_proba(audio_files[:3]), second.predict_proba(audio_files[:3]), atol=1e-6)


def test_clear_errors_for_wrong_use(dataset, tmp_path):
    audio_files, labels = dataset
    with pytest.raises(ValueError, match="labels"):
        train_cnn_music_model(audio_files, labels[:-1], num_epochs=1)
    with pytest.raises(ValueError, match="two genres"):
        train_cnn_music_model(audio_files[:4], ["rock"] * 4, num_epochs=1)
    with pytest.raises(ValueError, match="architecture"):
        CNNMusicClassifier(architecture="transformer")
    with pytest.raises(RuntimeError, match="load_model"):
        CNNMusicClassifier().predict(audio_files[0])
    foreign = tmp_path / "model.pth"; foreign.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match="not a Muzo checkpoint"):
        CNNMusicClassifier().load_model(foreign)


def test_undecodable_training_files_are_skipped_and_reported(dataset, tmp_path):
    audio_files, labels = dataset
    bad = tmp_path / "rock_bad.wav"; bad.write_bytes(b"")
    results = train_cnn_music_model(audio_files + [str(bad)], labels + ["rock"], model_name="skips", num_epochs=1,
                                    verbose=False)
    assert list(results["skipped"]) == [str(bad)] and "empty" in results["skipped"][str(bad)]


def test_train_on_run_saves_checkpoint_and_metrics(tmp_path):
    from muzo_lib.data.runs import load_metrics, prepare_run
    from muzo_lib.features.spectrogram import MelConfig
    from muzo_lib.training.loop import TrainConfig

    root = tiny_dataset(tmp_path / "data", per_genre=6, seconds=4.0)
    run = prepare_run(root, tmp_path / "run", seed=0)
    out = train_on_run(run, "cnn", "cnn", MelConfig(n_mels=32),
                       TrainConfig(epochs=1, segment_seconds=1.0, progress=False, verbose=False),
                       model_options={"channels": (4, 8, 8, 8)})
    assert out.checkpoint_path.is_file()
    metrics = load_metrics(run.run_dir)["cnn"]
    assert metrics["accuracy"] == pytest.approx(accuracy_of(metrics["test_confusion"]))
    assert metrics["n"] == len(run.subset("test")) == np.sum(metrics["test_confusion"])
    assert set(out.record) == set(metrics) and out.metrics_path == run.run_dir / "metrics" / "cnn.json"
    assert out.test["metrics"]["confusion"] == metrics["test_confusion"]   # the split's scores, apart from the record
    assert json.loads(json.dumps(out.to_dict()))["training"]["epochs_trained"] == out.training.epochs_trained == 1
    classifier = CNNMusicClassifier(verbose=False).load_model(out.checkpoint_path)
    assert classifier.classes_ == run.classes
